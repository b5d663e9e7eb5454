import { AxiosError, AxiosHeaders } from 'axios'
import { describe, expect, it } from 'vitest'

import { attachmentName, type Package } from '@/api/packages'
import { formFromPackage, updateFromForm } from '@/features/packages/profile'
import { deleteRefusal } from '@/features/packages/removal'

function pkg(profile: Package['deploy_profile']): Package {
  return {
    id: 'p1',
    software_name: 'packages-hello',
    version: '1.0',
    release: '',
    format: 'deb',
    arch: 'x86_64',
    os_families: ['deb'],
    description: 'Hello',
    depends: [],
    artifact_sha256: '0'.repeat(64),
    artifact_size: 1,
    signed: false,
    deploy_profile: profile,
    created_by: 'admin',
    created_at: null,
    updated_at: null,
    referenced_by: [],
  }
}

describe('editing the deploy profile', () => {
  it('round-trips a command health check: one argument per line, blank lines and padding dropped', () => {
    const form = formFromPackage(
      pkg({
        pre_hook: 'scripts/pre.sh',
        post_hook: '',
        restart_service: 'hello.service',
        health_check: { command: ['/usr/bin/curl', '-fsS', 'http://127.0.0.1/health'], http_url: null, timeout_seconds: 5 },
      }),
    )
    expect(form.check).toBe('command')
    expect(form.command).toBe('/usr/bin/curl\n-fsS\nhttp://127.0.0.1/health')

    form.command = '/usr/bin/test\n\n  -f  \n/run/hello.pid\n'
    expect(updateFromForm(form)).toEqual({
      description: 'Hello',
      deploy_profile: {
        pre_hook: 'scripts/pre.sh',
        post_hook: '',
        restart_service: 'hello.service',
        health_check: { command: ['/usr/bin/test', '-f', '/run/hello.pid'], http_url: null, timeout_seconds: 5 },
      },
    })
  })

  it('sends exactly one probe: switching to HTTP drops the command', () => {
    const form = formFromPackage(
      pkg({ pre_hook: '', post_hook: '', restart_service: '', health_check: { command: ['true'], http_url: null, timeout_seconds: 0 } }),
    )
    form.check = 'http'
    form.http_url = ' http://127.0.0.1:8080/health '
    expect(updateFromForm(form).deploy_profile?.health_check).toEqual({
      command: null,
      http_url: 'http://127.0.0.1:8080/health',
      timeout_seconds: 0,
    })
  })

  it('removes the profile (null) when every field is left empty', () => {
    const form = formFromPackage(
      pkg({ pre_hook: 'a.sh', post_hook: '', restart_service: '', health_check: { command: null, http_url: 'http://x', timeout_seconds: 3 } }),
    )
    Object.assign(form, { pre_hook: ' ', check: 'none' })
    expect(updateFromForm(form)).toEqual({ description: 'Hello', deploy_profile: null })
  })

  it('starts empty for a package without a profile', () => {
    expect(formFromPackage(pkg(null))).toMatchObject({ check: 'none', pre_hook: '', command: '', timeout_seconds: 0 })
  })
})

describe('a refused delete', () => {
  const t = (key: string) => key

  function refusedWith(status: number, message: string): AxiosError {
    const headers = new AxiosHeaders()
    return new AxiosError('refused', 'ERR', { headers }, null, {
      status,
      statusText: '',
      headers,
      config: { headers },
      data: { error: { code: 'failed_precondition', message, request_id: 'r' } },
    })
  }

  it("names what still holds the package, as the gateway says it", () => {
    const message = 'package is still referenced by deployment:8d0c…'
    expect(deleteRefusal(refusedWith(409, message), t)).toEqual({ message, referenced: true })
  })

  it('other failures say what happened without the "used by" advice', () => {
    expect(deleteRefusal(refusedWith(403, 'operators and admins only'), t)).toEqual({
      message: 'operators and admins only',
      referenced: false,
    })
    expect(deleteRefusal(new Error('offline'), t)).toEqual({ message: 'common.networkError', referenced: false })
  })
})

describe('the name a download is saved under', () => {
  it("prefers the exact UTF-8 name over the ASCII fallback", () => {
    const header = `attachment; filename="___1.0_all.deb"; filename*=UTF-8''%E4%BD%A0%E5%A5%BD_1.0_all.deb`
    expect(attachmentName(header, 'x')).toBe('你好_1.0_all.deb')
  })

  it('falls back to the plain name, then to the given one', () => {
    expect(attachmentName('attachment; filename="hello_1.0_all.deb"', 'x')).toBe('hello_1.0_all.deb')
    expect(attachmentName(undefined, 'package-p1')).toBe('package-p1')
  })
})
