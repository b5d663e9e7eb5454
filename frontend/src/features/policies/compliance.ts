/** Compliance states as the console shows them: their colours, and counts as the segments of one bar. */
import { COMPLIANCE_STATES, type ComplianceCounts, type ComplianceState, type NodeCompliance } from '@/api/policies'

export type TagType = 'success' | 'warning' | 'primary' | 'danger' | 'info'

/** Green for what is done, red and orange for what needs a look, blue for what is under way. */
export const STATE_TAGS: Record<ComplianceState, TagType> = {
  compliant: 'success',
  drifted: 'warning',
  converging: 'primary',
  failed: 'danger',
  incompatible: 'info',
}

/** States an operator should look at: their rows are highlighted. */
export const NEEDS_ATTENTION: ReadonlySet<ComplianceState> = new Set(['drifted', 'failed'])

export interface Segment {
  state: ComplianceState
  count: number
  /** Share of the bar, 0–100. */
  percent: number
}

/** The bar's segments in a fixed order (compliant first), empty states left out; the shares of the
 * segments add up to 100 (the last one takes what rounding left), so the bar is always full. */
export function complianceSegments(counts: ComplianceCounts | null | undefined): Segment[] {
  if (!counts) return []
  const present = COMPLIANCE_STATES.filter((state) => counts[state] > 0)
  const sum = present.reduce((total, state) => total + counts[state], 0)
  if (sum === 0) return []
  let left = 100
  return present.map((state, index) => {
    const percent = index === present.length - 1 ? left : Math.round((counts[state] / sum) * 1000) / 10
    left = Math.round((left - percent) * 10) / 10
    return { state, count: counts[state], percent }
  })
}

/** Share of the nodes that comply, as a whole percentage; null when the policy covers no node yet. */
export function compliantPercent(counts: ComplianceCounts | null | undefined): number | null {
  if (!counts || counts.total === 0) return null
  return Math.floor((counts.compliant / counts.total) * 100)
}

/** Lays a node's new compliance (from an event) over the row of that node, unless the row was checked
 * later than the event says (the page was read after it). True when a row changed. */
export function applyNodeChange(rows: NodeCompliance[], node: NodeCompliance): boolean {
  const index = rows.findIndex((row) => row.server_id === node.server_id)
  const row = rows[index]
  if (!row) return false
  if (row.checked_at && node.checked_at && Date.parse(row.checked_at) > Date.parse(node.checked_at)) return false
  rows.splice(index, 1, node)
  return true
}
