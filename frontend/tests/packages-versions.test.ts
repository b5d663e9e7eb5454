import { mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { http } from '@/api/client'
import type { Package } from '@/api/packages'
import SoftwareVersions from '@/features/packages/SoftwareVersions.vue'
import { createConsoleI18n } from '@/i18n'

function pkg(id: string, version: string): Package {
  return {
    id,
    software_name: 'packages-hello',
    version,
    release: '',
    format: 'deb',
    arch: 'x86_64',
    os_families: ['deb'],
    description: '',
    depends: [],
    artifact_sha256: '0'.repeat(64),
    artifact_size: 1024,
    signed: false,
    deploy_profile: null,
    created_by: 'admin',
    created_at: '2026-11-28T07:00:00Z',
    updated_at: null,
    referenced_by: [],
  }
}

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await new Promise((resolve) => setTimeout(resolve, 0))
}

function mountVersions(name = 'packages-hello') {
  localStorage.setItem('convoy.locale', 'en')
  return mount(SoftwareVersions, { props: { name }, global: { plugins: [createConsoleI18n()] } })
}

function shownVersions(wrapper: ReturnType<typeof mountVersions>): string[] {
  return wrapper.findAll('[data-test="package-row"]').map((row) => row.attributes('data-version') ?? '')
}

describe('the versions of one software', () => {
  let gateway: MockAdapter

  beforeEach(() => {
    gateway = new MockAdapter(http)
  })
  afterEach(() => gateway.restore())

  it("keeps the API's order, which no string or semver sort gives (dpkg: 1.10.0 > 1.10.0~rc1 > 1.2.0)", async () => {
    const order = ['2:0.9', '1.10.0', '1.10.0~rc1', '1.2.0', '1.0.0']
    gateway
      .onGet('/api/v1/software/packages-hello/versions')
      .reply(200, { items: order.map((version, index) => pkg(`p${index}`, version)), next_page_token: '' })

    const wrapper = mountVersions()
    await settled()

    expect(shownVersions(wrapper)).toEqual(order)
    expect(wrapper.text()).not.toContain('Next')
  })

  it('asks for the software by its name, escaped, and pages on with the cursor', async () => {
    const tokens: string[] = []
    gateway.onGet('/api/v1/software/a%2Fb%20c/versions').reply((config) => {
      const token = String(config.params?.page_token ?? '')
      tokens.push(token)
      const version = token ? '1.0' : '2.0'
      return [200, { items: [pkg(`p-${version}`, version)], next_page_token: token ? '' : 'cursor-2' }]
    })

    const wrapper = mountVersions('a/b c')
    await settled()
    expect(shownVersions(wrapper)).toEqual(['2.0'])

    const next = wrapper.findAll('button').find((button) => button.text() === 'Next')
    await next?.trigger('click')
    await settled()

    expect(tokens).toEqual(['', 'cursor-2'])
    expect(shownVersions(wrapper)).toEqual(['1.0'])
    expect(wrapper.text()).toContain('Page 2')
  })

  it("shows the gateway's reason when the list cannot be read", async () => {
    gateway
      .onGet('/api/v1/software/packages-hello/versions')
      .reply(503, { error: { code: 'unavailable', message: 'catalog is not answering', request_id: 'r' } })

    const wrapper = mountVersions()
    await settled()

    expect(wrapper.text()).toContain('catalog is not answering')
  })
})
