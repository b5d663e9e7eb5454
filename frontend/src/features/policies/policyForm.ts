/** The policy dialog's fields, and how they become the API's create and change bodies. */
import type { Strategy, Target } from '@/api/deployments'
import { LATEST, type Policy, type PolicyCreate, type PolicyMode, type PolicyState, type PolicyUpdate } from '@/api/policies'
import { normalizeSelector } from '@/utils/selector'

export type TargetKind = 'group' | 'server' | 'all' | 'selector'
/** A batch size or a failure budget is given as a number of nodes or as a share of them. */
export type AmountKind = 'count' | 'percent'

export interface PolicyForm {
  name: string
  targetKind: TargetKind
  groupId: string
  serverId: string
  selector: string
  softwareName: string
  state: PolicyState
  /** "latest" or an exact version; ignored for absent. */
  version: string
  mode: PolicyMode
  enabled: boolean
  batchKind: AmountKind
  /** 0: the scheduler's default. */
  batch: number
  failureKind: AmountKind
  /** 0: the scheduler's default. */
  failures: number
  canary: boolean
  pauseSeconds: number
  requireApproval: boolean
}

export function emptyForm(): PolicyForm {
  return {
    name: '',
    targetKind: 'group',
    groupId: '',
    serverId: '',
    selector: '',
    softwareName: '',
    state: 'present',
    version: LATEST,
    mode: 'enforce',
    enabled: true,
    batchKind: 'count',
    batch: 0,
    failureKind: 'count',
    failures: 0,
    canary: false,
    pauseSeconds: 0,
    requireApproval: false,
  }
}

function targetKind(target: Target | null): TargetKind {
  if (target?.server_id) return 'server'
  if (target?.all) return 'all'
  if (target?.selector) return 'selector'
  return 'group'
}

/** The form that edits `policy` as it is now. */
export function policyToForm(policy: Policy): PolicyForm {
  const { target, strategy } = policy
  return {
    ...emptyForm(),
    name: policy.name,
    targetKind: targetKind(target),
    groupId: target?.group_id ?? '',
    serverId: target?.server_id ?? '',
    selector: target?.selector ?? '',
    softwareName: policy.software_name,
    state: policy.state ?? 'present',
    version: policy.version ?? LATEST,
    mode: policy.mode ?? 'enforce',
    enabled: policy.enabled,
    batchKind: strategy.batch_percent > 0 ? 'percent' : 'count',
    batch: strategy.batch_percent || strategy.batch_size,
    failureKind: strategy.max_failure_percent > 0 ? 'percent' : 'count',
    failures: strategy.max_failure_percent || strategy.max_failures,
    canary: strategy.canary,
    pauseSeconds: strategy.pause_between_batches_seconds,
    requireApproval: strategy.require_approval,
  }
}

export function formTarget(form: PolicyForm): Target {
  switch (form.targetKind) {
    case 'server':
      return { server_id: form.serverId }
    case 'all':
      return { all: true }
    case 'selector':
      return { selector: normalizeSelector(form.selector) }
    default:
      return { group_id: form.groupId }
  }
}

export function formStrategy(form: PolicyForm): Strategy {
  const percentBatch = form.batchKind === 'percent'
  const percentFailures = form.failureKind === 'percent'
  return {
    batch_size: percentBatch ? 0 : form.batch,
    batch_percent: percentBatch ? form.batch : 0,
    max_failures: percentFailures ? 0 : form.failures,
    max_failure_percent: percentFailures ? form.failures : 0,
    canary: form.canary,
    pause_between_batches_seconds: form.pauseSeconds,
    require_approval: form.requireApproval,
  }
}

/** The target is complete: a group or server is chosen, or a selector written. */
export function targetComplete(form: PolicyForm): boolean {
  const target = formTarget(form)
  return Boolean(target.all || target.group_id || target.server_id || target.selector)
}

/** An absent policy names no version: the gateway refuses one. */
export function formToCreate(form: PolicyForm): PolicyCreate {
  const body: PolicyCreate = {
    name: form.name.trim(),
    target: formTarget(form),
    software_name: form.softwareName.trim().toLowerCase(),
    state: form.state,
    strategy: formStrategy(form),
    mode: form.mode,
    enabled: form.enabled,
  }
  if (form.state === 'present') body.version = form.version.trim() || LATEST
  return body
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** Only what the user changed: every change is checked for contradictions and written to the audit log,
 * and an unchanged field sent again would read there as a change. */
export function formToUpdate(form: PolicyForm, original: Policy): PolicyUpdate {
  const before = formToCreate(policyToForm(original))
  const after = formToCreate(form)
  const body: PolicyUpdate = {}
  if (after.name !== before.name) body.name = after.name
  if (!same(after.target, before.target)) body.target = after.target
  if (after.state !== before.state) body.state = after.state
  if (after.version !== undefined && (after.version !== before.version || body.state)) body.version = after.version
  if (!same(after.strategy, before.strategy)) body.strategy = after.strategy
  if (after.mode !== before.mode) body.mode = after.mode
  if (after.enabled !== before.enabled) body.enabled = after.enabled
  return body
}
