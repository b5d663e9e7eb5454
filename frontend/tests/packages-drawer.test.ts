import { DOMWrapper, flushPromises, mount } from '@vue/test-utils'
import { CanceledError } from 'axios'
import MockAdapter from 'axios-mock-adapter'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { http } from '@/api/client'
import type { Package } from '@/api/packages'
import PackageDrawer from '@/features/packages/PackageDrawer.vue'
import { curlCommand, downloadProgress } from '@/features/packages/useDownload'
import { createConsoleI18n } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

const MIB = 1024 * 1024

function pkg(id: string, name: string, size = 5 * 1024): Package {
  return {
    id,
    software_name: name,
    version: '1.0',
    release: '',
    format: 'deb',
    arch: 'amd64',
    os_families: ['deb'],
    description: '',
    depends: [],
    artifact_sha256: '0'.repeat(64),
    artifact_size: size,
    signed: false,
    deploy_profile: null,
    created_by: 'admin',
    created_at: null,
    updated_at: null,
    referenced_by: [],
  }
}

let gateway: MockAdapter
const stubs = { transition: false, 'transition-group': false }

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
}

function mountDrawer(packageId: string) {
  localStorage.setItem('convoy.locale', 'en')
  const pinia = createPinia()
  setActivePinia(pinia)
  useAuthStore().keep({
    access_token: 'a1',
    token_type: 'Bearer',
    expires_in: 900,
    access_expires_at: null,
    refresh_token: 'r1',
    refresh_expires_at: null,
    user: { id: 'u1', username: 'viewer', display_name: '', role: 'viewer', disabled: false, created_at: null, updated_at: null, last_login_at: null },
  })
  return mount(PackageDrawer, {
    props: { modelValue: true, packageId },
    global: { plugins: [pinia, createConsoleI18n()], stubs },
    attachTo: document.body,
  })
}

function body(selector: string): DOMWrapper<Element> {
  return new DOMWrapper(document.body).find(selector)
}

/** A download the test holds open: the signal it was sent with, and a way to finish it. */
function heldDownload(): { signal: () => AbortSignal | undefined; finish: () => void } {
  let signal: AbortSignal | undefined
  let finish: () => void = () => undefined
  gateway.onGet(/\/content$/).reply(
    (config) =>
      new Promise((resolve, reject) => {
        signal = config.signal as AbortSignal
        signal.addEventListener('abort', () => reject(new CanceledError()))
        finish = () => resolve([200, new Blob(['x']), { 'content-disposition': 'attachment; filename="a.deb"' }])
      }),
  )
  return { signal: () => signal, finish: () => finish() }
}

beforeEach(() => {
  gateway = new MockAdapter(http)
})

afterEach(() => {
  gateway.restore()
  vi.restoreAllMocks()
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
  localStorage.clear()
})

describe('the package drawer', () => {
  it('shows the package opened last, even when the one before answers later', async () => {
    let answerA: () => void = () => undefined
    gateway.onGet('/api/v1/packages/p-a').reply(
      () =>
        new Promise((resolve) => {
          answerA = () => resolve([200, pkg('p-a', 'alpha')])
        }),
    )
    gateway.onGet('/api/v1/packages/p-b').reply(200, pkg('p-b', 'bravo'))
    const wrapper = mountDrawer('p-a')
    await flushPromises()
    await wrapper.setProps({ packageId: 'p-b' })
    await settled()
    answerA()
    await settled()
    const drawer = body('[data-test="package-drawer"]')
    expect(drawer.text()).toContain('bravo 1.0')
    expect(drawer.text()).not.toContain('alpha')
  })

  it('stops the download when the drawer closes, and says nothing about it', async () => {
    gateway.onGet('/api/v1/packages/p-a').reply(200, pkg('p-a', 'alpha'))
    const download = heldDownload()
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => undefined)
    const wrapper = mountDrawer('p-a')
    await settled()
    await body('[data-test="package-download"]').trigger('click')
    await settled()
    expect(body('[data-test="package-download"]').text()).toContain('Downloading 0% (0 B / 5.0 KB)')
    expect(body('[data-test="package-download-cancel"]').exists()).toBe(true)

    await wrapper.setProps({ modelValue: false })
    await settled()
    expect(download.signal()?.aborted).toBe(true)
    expect(click).not.toHaveBeenCalled()
    expect(document.querySelector('.el-message-box')).toBeNull()
  })

  it('stops the download when the drawer goes away altogether', async () => {
    gateway.onGet('/api/v1/packages/p-a').reply(200, pkg('p-a', 'alpha'))
    const download = heldDownload()
    const wrapper = mountDrawer('p-a')
    await settled()
    await body('[data-test="package-download"]').trigger('click')
    await settled()
    wrapper.unmount()
    expect(download.signal()?.aborted).toBe(true)
  })

  it('saves a finished download under the gateway’s name', async () => {
    gateway.onGet('/api/v1/packages/p-a').reply(200, pkg('p-a', 'alpha'))
    const download = heldDownload()
    // jsdom has no object URLs.
    vi.stubGlobal(
      'URL',
      class extends URL {
        static createObjectURL = () => 'blob:a'
        static revokeObjectURL = () => undefined
      },
    )
    const saved: string[] = []
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push(this.download)
    })
    mountDrawer('p-a')
    await settled()
    await body('[data-test="package-download"]').trigger('click')
    await settled()
    download.finish()
    await settled()
    expect(saved).toEqual(['a.deb'])
    expect(body('[data-test="package-download"]').text()).toBe('Download')
  })

  it('says that a large file is large and offers the command that saves it straight to disk', async () => {
    gateway.onGet('/api/v1/packages/p-big').reply(200, pkg('p-big', 'bigdata', 300 * MIB))
    mountDrawer('p-big')
    await settled()
    expect(body('[data-test="package-download-large"]').text()).toContain('This package is 300 MB')
    expect(body('[data-test="package-curl"]').text()).toBe(
      `curl -fOJ -H "Authorization: Bearer $TOKEN" '${window.location.origin}/api/v1/packages/p-big/content'`,
    )
  })

  it('says nothing of size for an ordinary package', async () => {
    gateway.onGet('/api/v1/packages/p-a').reply(200, pkg('p-a', 'alpha', 99 * MIB))
    mountDrawer('p-a')
    await settled()
    expect(body('[data-test="package-download"]').exists()).toBe(true)
    expect(body('[data-test="package-download-large"]').exists()).toBe(false)
  })
})

describe('download progress', () => {
  it('uses the length the browser knows, else the recorded size', () => {
    expect(downloadProgress({ loaded: 50, total: 200, bytes: 50, lengthComputable: true }, 100)).toEqual({ percent: 25, loaded: 50, total: 200 })
    expect(downloadProgress({ loaded: 50, bytes: 50, lengthComputable: false }, 100)).toEqual({ percent: 50, loaded: 50, total: 100 })
    expect(downloadProgress({ loaded: 50, bytes: 50, lengthComputable: false }, 0)).toEqual({ percent: 0, loaded: 50, total: 0 })
  })

  it('builds the command from the address the console is served from', () => {
    expect(curlCommand('a b', 'https://convoy.example')).toBe(
      `curl -fOJ -H "Authorization: Bearer $TOKEN" 'https://convoy.example/api/v1/packages/a%20b/content'`,
    )
  })
})
