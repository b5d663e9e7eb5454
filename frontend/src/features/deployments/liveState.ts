/** Applying the event stream to what a page shows: whatever is newer wins, whichever way it arrived
 * (the REST snapshot and the events race each other), and an old attempt never overwrites a new one. */
import type { Counts, Deployment, DeploymentTarget } from '@/api/deployments'

function time(value: string | null | undefined): number {
  const parsed = value ? Date.parse(value) : NaN
  return Number.isNaN(parsed) ? -Infinity : parsed
}

/** The newer of two versions of one deployment. */
export function newerDeployment(current: Deployment | null, next: Deployment): Deployment {
  if (!current || current.id !== next.id) return next
  return time(next.updated_at) >= time(current.updated_at) ? next : current
}

/** The newer of two versions of one target: a later attempt first, then the later update. */
export function newerTarget(current: DeploymentTarget | undefined, next: DeploymentTarget): DeploymentTarget {
  if (!current) return next
  if (next.attempt !== current.attempt) return next.attempt > current.attempt ? next : current
  return time(next.updated_at) >= time(current.updated_at) ? next : current
}

/** Every target event seen since the page opened, the newest per server, to lay over snapshots. */
export class TargetLedger {
  private readonly latest = new Map<string, DeploymentTarget>()

  record(target: DeploymentTarget): DeploymentTarget {
    const kept = newerTarget(this.latest.get(target.server_id), target)
    this.latest.set(target.server_id, kept)
    return kept
  }

  /** A snapshot's rows, each replaced by a newer event where one arrived. */
  overlay(rows: DeploymentTarget[]): DeploymentTarget[] {
    return rows.map((row) => newerTarget(this.latest.get(row.server_id), row))
  }

  all(): IterableIterator<DeploymentTarget> {
    return this.latest.values()
  }
}

/**
 * Applies target events to the rows of a table page, in place. A row of that server is replaced when the
 * event is newer; a server not on the page is added only while `room` lasts (the unfiltered last page
 * with room left: the targets of a scheduled deployment appear as it starts). Returns the rows added.
 */
export function applyTargetRows(rows: DeploymentTarget[], batch: Iterable<DeploymentTarget>, room: number): number {
  const positions = new Map(rows.map((row, index) => [row.server_id, index]))
  let added = 0
  for (const next of batch) {
    const index = positions.get(next.server_id)
    if (index !== undefined) {
      const kept = newerTarget(rows[index], next)
      if (kept !== rows[index]) rows[index] = kept
    } else if (added < room) {
      positions.set(next.server_id, rows.length)
      rows.push(next)
      added += 1
    }
  }
  return added
}

/** Applies a deployment event to the rows of a list page, in place; true when a row changed. */
export function applyDeploymentRow(rows: Deployment[], next: Deployment): boolean {
  const index = rows.findIndex((row) => row.id === next.id)
  if (index < 0) return false
  const kept = newerDeployment(rows[index] ?? null, next)
  if (kept === rows[index]) return false
  rows[index] = kept
  return true
}

/** Targets per state, as the deployment counts them: deployment events come only when the deployment
 * itself changes, so between them the counts are kept by tallying the targets. */
export function countsOf(targets: Iterable<DeploymentTarget>): Counts {
  const counts: Counts = {
    total: 0,
    pending: 0,
    assigned: 0,
    downloading: 0,
    installing: 0,
    succeeded: 0,
    unchanged: 0,
    failed: 0,
    skipped: 0,
    cancelled: 0,
    awaiting_approval: 0,
  }
  for (const target of targets) {
    counts.total += 1
    if (target.state) counts[target.state] += 1
  }
  return counts
}

/** Every target of a deployment by server, with the counts per state kept as targets change: an event
 * costs a lookup, not a pass over a fleet of thousands. */
export class TargetIndex {
  /** In the order first seen; replaced in place. */
  readonly rows: DeploymentTarget[] = []
  private readonly positions = new Map<string, number>()
  private readonly tally = countsOf([])

  get(serverId: string): DeploymentTarget | undefined {
    const index = this.positions.get(serverId)
    return index === undefined ? undefined : this.rows[index]
  }

  /** Lays each target over the one held for its server where it is newer; true when anything changed. */
  apply(batch: Iterable<DeploymentTarget>): boolean {
    let changed = false
    for (const next of batch) {
      const index = this.positions.get(next.server_id)
      const current = index === undefined ? undefined : this.rows[index]
      const kept = newerTarget(current, next)
      if (kept === current) continue
      if (current) this.count(current, -1)
      this.count(kept, 1)
      if (index === undefined) this.positions.set(kept.server_id, this.rows.push(kept) - 1)
      else this.rows[index] = kept
      changed = true
    }
    return changed
  }

  counts(): Counts {
    return { ...this.tally }
  }

  private count(target: DeploymentTarget, by: 1 | -1): void {
    this.tally.total += by
    if (target.state) this.tally[target.state] += by
  }
}
