/** The batch timeline: what each batch of a rollout has done so far, from its targets. */
import { isFinal, isInFlight, type Deployment, type DeploymentTarget } from '@/api/deployments'

/** As el-steps shows a step. */
export type BatchStatus = 'wait' | 'process' | 'success' | 'error'

export interface BatchSummary {
  batch: number
  total: number
  /** Targets that are final: succeeded, unchanged, failed, skipped or cancelled. */
  done: number
  failed: number
  status: BatchStatus
  startedAt: string | null
  finishedAt: string | null
}

function earliest(a: string | null, b: string | null): string | null {
  if (!a) return b
  if (!b) return a
  return Date.parse(b) < Date.parse(a) ? b : a
}

function latest(a: string | null, b: string | null): string | null {
  if (!a) return b
  if (!b) return a
  return Date.parse(b) > Date.parse(a) ? b : a
}

function statusOf(targets: DeploymentTarget[]): BatchStatus {
  const states = targets.map((target) => target.state)
  if (states.some(isInFlight)) return 'process'
  const final = states.filter(isFinal)
  if (final.length === 0) return 'wait'
  if (final.length < states.length) return 'process'
  return states.includes('failed') ? 'error' : 'success'
}

function summary(batch: number, targets: DeploymentTarget[]): BatchSummary {
  const final = targets.filter((target) => isFinal(target.state))
  return {
    batch,
    total: targets.length,
    done: final.length,
    failed: targets.filter((target) => target.state === 'failed').length,
    status: statusOf(targets),
    startedAt: targets.reduce<string | null>((at, target) => earliest(at, target.started_at), null),
    // A batch has finished only when every target has.
    finishedAt: final.length === targets.length ? final.reduce<string | null>((at, t) => latest(at, t.finished_at), null) : null,
  }
}

/** One entry per batch, 1 to the deployment's batch count; targets left out of every batch (batch 0,
 * skipped when planned) are not a step of the rollout. */
export function summarizeBatches(deployment: Deployment, targets: Iterable<DeploymentTarget>): BatchSummary[] {
  const byBatch = new Map<number, DeploymentTarget[]>()
  for (const target of targets) {
    if (target.batch <= 0) continue
    const batch = byBatch.get(target.batch) ?? []
    batch.push(target)
    byBatch.set(target.batch, batch)
  }
  const count = Math.max(deployment.batch_count, ...byBatch.keys())
  return Array.from({ length: count }, (_, i) => summary(i + 1, byBatch.get(i + 1) ?? []))
}
