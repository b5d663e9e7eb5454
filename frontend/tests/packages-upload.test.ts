import type { InternalAxiosRequestConfig } from 'axios'
import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { http } from '@/api/client'
import { uploadForm, type Package } from '@/api/packages'
import { createConsoleI18n } from '@/i18n'
import { progressOf, uploadErrorText, useUpload, type Translate } from '@/features/packages/useUpload'

const MB = 1024 * 1024

function translator(): Translate {
  localStorage.setItem('convoy.locale', 'en')
  const { global } = createConsoleI18n()
  return (key, params) => global.t(key, params ?? {})
}

function registered(): Package {
  return {
    id: 'p1',
    software_name: 'packages-hello',
    version: '1.2.0',
    release: '',
    format: 'deb',
    arch: 'x86_64',
    os_families: ['deb'],
    description: 'hello',
    depends: [],
    artifact_sha256: 'ab'.repeat(32),
    artifact_size: 2048,
    signed: false,
    deploy_profile: null,
    created_by: 'admin',
    created_at: null,
    updated_at: null,
    referenced_by: [],
  }
}

/** A reply the test settles when it likes, with the request's config at hand meanwhile. */
function pendingUpload(gateway: MockAdapter) {
  const held: { config?: InternalAxiosRequestConfig; settle?: (reply: [number, unknown]) => void } = {}
  gateway.onPost('/api/v1/packages').reply(
    (config) =>
      new Promise((settle) => {
        held.config = config as InternalAxiosRequestConfig
        held.settle = settle
      }),
  )
  return held
}

function progressEvent(loaded: number, total: number, rate?: number) {
  return { loaded, total, rate, bytes: loaded, lengthComputable: true }
}

async function until(check: () => boolean): Promise<void> {
  for (let turn = 0; turn < 50 && !check(); turn += 1) await new Promise((resolve) => setTimeout(resolve, 0))
}

describe('package upload', () => {
  let gateway: MockAdapter
  const t = translator()
  const file = new File(['x'.repeat(100)], 'packages-hello_1.2.0_amd64.deb')

  beforeEach(() => {
    gateway = new MockAdapter(http)
  })
  afterEach(() => gateway.restore())

  it('sends only the filled-in fields, trimmed, before the file', () => {
    const form = uploadForm(file, { format: 'deb', software_name: ' hello ', version: '', arch: '  ' })
    expect([...form.keys()]).toEqual(['format', 'software_name', 'file'])
    expect(form.get('software_name')).toBe('hello')
    expect((form.get('file') as File).name).toBe('packages-hello_1.2.0_amd64.deb')
  })

  it('reports percent and speed while sending, then waits for the inspection, then shows the package', async () => {
    const held = pendingUpload(gateway)
    const upload = useUpload(t)
    const done = upload.start(file, { format: 'deb' })
    await until(() => held.config !== undefined)
    expect(held.config?.timeout).toBe(0)
    expect((held.config?.data as FormData).get('format')).toBe('deb')

    held.config?.onUploadProgress?.(progressEvent(50, 200, 4 * MB))
    expect(upload.phase.value).toBe('uploading')
    expect(upload.progress.value).toMatchObject({ percent: 25, loaded: 50, total: 200, rate: 4 * MB })

    held.config?.onUploadProgress?.(progressEvent(200, 200, 4 * MB))
    expect(upload.phase.value).toBe('inspecting')

    held.settle?.([201, registered()])
    expect(await done).toMatchObject({ software_name: 'packages-hello', version: '1.2.0' })
    expect(upload.phase.value).toBe('done')
    expect(upload.result.value?.artifact_sha256).toBe('ab'.repeat(32))
  })

  it('stops the request when cancelled and says so, ignoring whatever the request ends with', async () => {
    const held = pendingUpload(gateway)
    const upload = useUpload(t)
    const done = upload.start(file, {})
    await until(() => held.config !== undefined)

    upload.cancel()
    expect(held.config?.signal?.aborted).toBe(true)
    expect(upload.phase.value).toBe('cancelled')

    held.settle?.([201, registered()])
    expect(await done).toBeNull()
    expect(upload.phase.value).toBe('cancelled')
    expect(upload.result.value).toBeNull()
  })

  it("shows the gateway's reason when the inspection refuses the file", async () => {
    const message = "member '../x' escapes the archive root"
    gateway.onPost('/api/v1/packages').reply(400, { error: { code: 'invalid_argument', message, request_id: 'r' } })
    const upload = useUpload(t)

    expect(await upload.start(file, {})).toBeNull()
    expect(upload.phase.value).toBe('failed')
    expect(upload.failure.value).toBe(message)
  })

  it('a new file after a refusal starts afresh', async () => {
    gateway.onPost('/api/v1/packages').replyOnce(415, { error: { code: 'x', message: 'not a package', request_id: 'r' } })
    gateway.onPost('/api/v1/packages').replyOnce(201, registered())
    const upload = useUpload(t)
    await upload.start(file, {})
    expect(upload.failure.value).toBe('not a package')

    await upload.start(file, {})
    expect(upload.phase.value).toBe('done')
    expect(upload.failure.value).toBe('')
  })
})

describe('upload error messages', () => {
  let gateway: MockAdapter
  const t = translator()

  beforeEach(() => {
    gateway = new MockAdapter(http)
  })
  afterEach(() => gateway.restore())

  async function failure(): Promise<unknown> {
    return http.post('/api/v1/packages', new FormData()).catch((error: unknown) => error)
  }

  it('explains a size refusal that comes without the gateway\'s body (from a proxy in front)', async () => {
    gateway.onPost('/api/v1/packages').reply(413, '<html>Request Entity Too Large</html>')
    expect(uploadErrorText(await failure(), t)).toBe('The file is larger than the control centre accepts.')
  })

  it('prefers the gateway\'s own message for every status', async () => {
    const message = 'the upload is larger than the limit of 1024 bytes'
    gateway.onPost('/api/v1/packages').reply(413, { error: { code: 'payload_too_large', message, request_id: 'r' } })
    expect(uploadErrorText(await failure(), t)).toBe(message)
  })

  it('says the network failed when no answer came', async () => {
    gateway.onPost('/api/v1/packages').networkError()
    expect(uploadErrorText(await failure(), t)).toBe(t('common.networkError'))
  })

  it('names the status when nothing else explains it', async () => {
    gateway.onPost('/api/v1/packages').reply(502, '')
    expect(uploadErrorText(await failure(), t)).toContain('HTTP 502')
  })
})

describe('upload progress', () => {
  it('falls back to the average speed until the browser measures one', () => {
    const progress = progressOf({ loaded: 10 * MB, total: 40 * MB, bytes: 0, lengthComputable: true }, 40 * MB, 5)
    expect(progress).toEqual({ percent: 25, loaded: 10 * MB, total: 40 * MB, rate: 2 * MB })
  })

  it('uses the file size when the browser does not know the total', () => {
    expect(progressOf({ loaded: 30, bytes: 0, lengthComputable: false }, 120, 0)).toMatchObject({ percent: 25, total: 120, rate: 0 })
  })
})
