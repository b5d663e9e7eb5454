/** How deployments, targets and schedules look: tag colours per state and one-line descriptions. */
import type { Deployment, DeploymentState, Strategy, Target, TargetState } from '@/api/deployments'
import type { ScheduleState } from '@/api/schedules'

export type TagType = 'primary' | 'success' | 'info' | 'warning' | 'danger'

const DEPLOYMENT_TAGS: Record<DeploymentState, TagType> = {
  scheduled: 'info',
  pending: 'info',
  running: 'primary',
  paused: 'warning',
  succeeded: 'success',
  failed: 'danger',
  cancelled: 'info',
}

const TARGET_TAGS: Record<TargetState, TagType> = {
  pending: 'info',
  assigned: 'primary',
  downloading: 'primary',
  installing: 'primary',
  awaiting_approval: 'warning',
  succeeded: 'success',
  unchanged: 'success',
  failed: 'danger',
  skipped: 'info',
  cancelled: 'info',
}

const SCHEDULE_TAGS: Record<ScheduleState, TagType> = { active: 'primary', done: 'success', cancelled: 'info' }

export function deploymentTag(state: DeploymentState | null): TagType {
  return state ? DEPLOYMENT_TAGS[state] : 'info'
}

export function targetTag(state: TargetState | null): TagType {
  return state ? TARGET_TAGS[state] : 'info'
}

export function scheduleTag(state: ScheduleState | null): TagType {
  return state ? SCHEDULE_TAGS[state] : 'info'
}

/** Where a deployment came from: by hand, a sync policy, or a schedule (made by hand, run later). */
export function originOf(deployment: Pick<Deployment, 'origin' | 'schedule_id'>): 'manual' | 'policy' | 'schedule' | 'unknown' {
  if (deployment.schedule_id) return 'schedule'
  return deployment.origin ?? 'unknown'
}

export type TargetKindName = 'server' | 'group' | 'all' | 'selector'

/** The one field the target sets, and its value (a server or group id, or the selector). */
export function targetParts(target: Target | null): { kind: TargetKindName; value: string } | null {
  if (!target) return null
  if (target.server_id) return { kind: 'server', value: target.server_id }
  if (target.group_id) return { kind: 'group', value: target.group_id }
  if (target.selector) return { kind: 'selector', value: target.selector }
  if (target.all) return { kind: 'all', value: '' }
  return null
}

/** Finished nodes (whatever the outcome) out of all, for a progress bar. */
export function finishedShare(counts: Deployment['counts']): number {
  if (!counts.total) return 0
  const done = counts.succeeded + counts.unchanged + counts.failed + counts.skipped + counts.cancelled
  return Math.round((done / counts.total) * 100)
}

/** The strategy's parts as message keys of `deployments.strategy.*` with their values. */
export function strategyParts(strategy: Strategy): { key: string; n?: number }[] {
  const parts: { key: string; n?: number }[] = []
  if (strategy.batch_size) parts.push({ key: 'batchCount', n: strategy.batch_size })
  else if (strategy.batch_percent) parts.push({ key: 'batchPercent', n: strategy.batch_percent })
  else parts.push({ key: 'batchDefault' })
  if (strategy.max_failures) parts.push({ key: 'failuresCount', n: strategy.max_failures })
  else if (strategy.max_failure_percent) parts.push({ key: 'failuresPercent', n: strategy.max_failure_percent })
  else parts.push({ key: 'failuresNone' })
  if (strategy.canary) parts.push({ key: 'canary' })
  if (strategy.pause_between_batches_seconds) parts.push({ key: 'pause', n: strategy.pause_between_batches_seconds })
  if (strategy.require_approval) parts.push({ key: 'approval' })
  return parts
}
