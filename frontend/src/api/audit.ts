/** /api/v1/audit: the hash-chained audit log and its check (admins only). */
import { http } from './client'

export type AuditResult = 'success' | 'denied' | 'failure'
export const AUDIT_RESULTS: AuditResult[] = ['success', 'denied', 'failure']

export interface AuditRecord {
  id: number
  time: string | null
  /** The service that wrote the record. */
  source: string
  /** "user:<name>", "service:<name>" or "node:<id>". */
  actor: string
  action: string
  target: string
  result: AuditResult | null
  reason: string
  request_id: string
  client_address: string
  prev_hash: string
  hash: string
}

export interface AuditPage {
  items: AuditRecord[]
  next_page_token: string
}

/** Every filter is exact, except `action`, which also takes a prefix ending in '.'. */
export interface AuditQuery {
  page_size?: number
  page_token?: string
  actor?: string
  action?: string
  target?: string
  result?: AuditResult
  request_id?: string
  /** ISO 8601; records at or after. */
  since?: string
  /** ISO 8601; records before. */
  until?: string
}

export interface AuditChain {
  ok: boolean
  records_checked: number
  first_bad_id: number
  reason: string
}

export async function listAudit(query: AuditQuery = {}): Promise<AuditPage> {
  return (await http.get<AuditPage>('/api/v1/audit', { params: query })).data
}

/** Recomputes the whole chain on the server, which allows itself longer than for other calls on a long log. */
export async function verifyAudit(): Promise<AuditChain> {
  return (await http.get<AuditChain>('/api/v1/audit/verify', { timeout: 90_000 })).data
}
