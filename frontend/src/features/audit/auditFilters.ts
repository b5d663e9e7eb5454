/** The audit log's filter bar and the query it becomes. Every filter of the API matches exactly, except the
 * action, which also takes a prefix ending in '.'. */
import type { AuditQuery, AuditResult } from '@/api/audit'

export interface AuditFilters {
  /** A bare name means that user; "service:…" or "node:…" is taken as it is. */
  actor: string
  action: string
  target: string
  result: AuditResult | ''
  requestId: string
  /** From and to, in the browser's timezone, to the second. */
  range: [Date, Date] | null
}

// The kinds of object actions are named after ("user.create", "deployment.approve" …): offered as prefixes.
const ACTION_PREFIXES = [
  'auth.',
  'user.',
  'audit.',
  'join_token.',
  'node.',
  'server.',
  'group.',
  'package.',
  'blob.',
  'deployment.',
  'policy.',
  'schedule.',
]

export function emptyFilters(): AuditFilters {
  return { actor: '', action: '', target: '', result: '', requestId: '', range: null }
}

export function auditQuery(filters: AuditFilters): AuditQuery {
  const query: AuditQuery = {}
  const actor = filters.actor.trim()
  if (actor) query.actor = actor.includes(':') ? actor : `user:${actor}`
  const action = filters.action.trim()
  if (action) query.action = action
  const target = filters.target.trim()
  if (target) query.target = target
  if (filters.result) query.result = filters.result
  const requestId = filters.requestId.trim()
  if (requestId) query.request_id = requestId
  if (filters.range) {
    query.since = filters.range[0].toISOString()
    // The picker's end is a whole second the user means to include; the API's `until` is exclusive.
    query.until = new Date(filters.range[1].getTime() + 1000).toISOString()
  }
  return query
}

export function hasFilters(query: AuditQuery): boolean {
  return Object.keys(query).length > 0
}

/** Suggestions for the action filter: the known prefixes and the actions already seen, matching what is typed. */
export function actionSuggestions(typed: string, seen: string[]): string[] {
  const text = typed.trim().toLowerCase()
  const all = [...new Set([...ACTION_PREFIXES, ...[...seen].sort()])]
  return all.filter((action) => action.includes(text))
}
