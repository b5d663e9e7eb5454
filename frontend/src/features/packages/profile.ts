/** The deploy profile as an editable form, and back into what PATCH /api/v1/packages/{id} takes. */
import type { DeployProfile, Package, PackageUpdate } from '@/api/packages'

export type CheckKind = 'none' | 'command' | 'http'

export interface ProfileForm {
  description: string
  pre_hook: string
  post_hook: string
  restart_service: string
  check: CheckKind
  /** The health check's argv, one argument per line (it runs without a shell, so no quoting). */
  command: string
  http_url: string
  timeout_seconds: number
}

export function formFromPackage(pkg: Package): ProfileForm {
  const profile = pkg.deploy_profile
  const check = profile?.health_check ?? null
  return {
    description: pkg.description,
    pre_hook: profile?.pre_hook ?? '',
    post_hook: profile?.post_hook ?? '',
    restart_service: profile?.restart_service ?? '',
    check: check?.command ? 'command' : check?.http_url ? 'http' : 'none',
    command: (check?.command ?? []).join('\n'),
    http_url: check?.http_url ?? '',
    timeout_seconds: check?.timeout_seconds ?? 0,
  }
}

export function commandArgs(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
}

function healthCheck(form: ProfileForm): DeployProfile['health_check'] {
  const timeout = Math.max(0, Math.floor(form.timeout_seconds || 0))
  if (form.check === 'command') return { command: commandArgs(form.command), http_url: null, timeout_seconds: timeout }
  if (form.check === 'http') return { command: null, http_url: form.http_url.trim(), timeout_seconds: timeout }
  return null
}

/** The profile the form describes; null when it says nothing at all, which removes the profile. */
export function profileFromForm(form: ProfileForm): DeployProfile | null {
  const profile: DeployProfile = {
    pre_hook: form.pre_hook.trim(),
    post_hook: form.post_hook.trim(),
    restart_service: form.restart_service.trim(),
    health_check: healthCheck(form),
  }
  const empty = !profile.pre_hook && !profile.post_hook && !profile.restart_service && !profile.health_check
  return empty ? null : profile
}

/** The PATCH body: the description and the whole profile (null removes it). */
export function updateFromForm(form: ProfileForm): PackageUpdate {
  return { description: form.description.trim(), deploy_profile: profileFromForm(form) }
}
