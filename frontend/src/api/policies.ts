/** /api/v1/policies and /api/v1/compliance: sync policies and how far the fleet complies with them. */
import { http } from './client'
import type { Strategy, Target } from './deployments'

export type PolicyState = 'present' | 'absent'
export type PolicyMode = 'enforce' | 'report'
export type ComplianceState = 'compliant' | 'drifted' | 'converging' | 'failed' | 'incompatible'

export const COMPLIANCE_STATES: ComplianceState[] = ['compliant', 'drifted', 'converging', 'failed', 'incompatible']
/** The version that means "the newest package in the catalog that fits each node". */
export const LATEST = 'latest'

export interface Policy {
  id: string
  name: string
  target: Target | null
  software_name: string
  /** "latest", an exact version, or null for absent. */
  version: string | null
  state: PolicyState | null
  strategy: Strategy
  mode: PolicyMode | null
  enabled: boolean
  created_by: string
  created_at: string | null
  updated_at: string | null
}

export interface PolicyPage {
  items: Policy[]
  next_page_token: string
  total: number
}

export interface PolicyQuery {
  page_size?: number
  page_token?: string
  /** Exact software name. */
  software_name?: string
  mode?: PolicyMode
  enabled?: boolean
}

/** Left out: state present, mode enforce, enabled true; `version` is required for present only. */
export interface PolicyCreate {
  name: string
  target: Target
  software_name: string
  version?: string
  state: PolicyState
  strategy?: Partial<Strategy>
  mode: PolicyMode
  enabled: boolean
}

/** Fields left out stay as they are; the software never changes; `strategy` replaces the whole strategy. */
export type PolicyUpdate = Partial<Omit<PolicyCreate, 'software_name'>>

export type ComplianceCounts = Record<ComplianceState, number> & { total: number }

export interface NodeCompliance {
  policy_id: string
  server_id: string
  hostname: string
  /** Empty for absent. */
  desired_version: string
  /** Empty when not installed. */
  installed_version: string
  state: ComplianceState | null
  /** Converging: the deployment under way; failed: the one that failed. */
  deployment_id: string
  message: string
  failed_attempts: number
  /** While failed: when the next attempt may start. */
  retry_at: string | null
  checked_at: string | null
  changed_at: string | null
}

/** `counts` cover every node of the policy, whatever the state filter. */
export interface PolicyCompliancePage {
  items: NodeCompliance[]
  next_page_token: string
  counts: ComplianceCounts
}

export interface PolicyComplianceSummary {
  policy_id: string
  policy_name: string
  software_name: string
  mode: PolicyMode | null
  enabled: boolean
  counts: ComplianceCounts
  checked_at: string | null
}

export interface GroupComplianceSummary {
  group_id: string
  group_name: string
  counts: ComplianceCounts
}

/** Every policy; `total` and `groups` over enabled policies only (a node under two counts twice). */
export interface ComplianceSummary {
  policies: PolicyComplianceSummary[]
  total: ComplianceCounts
  groups: GroupComplianceSummary[]
}

/** The data of an `event: compliance` on the event stream. */
export interface ComplianceEvent {
  sequence: number
  time: string | null
  policy_id: string
  compliance: NodeCompliance
}

const base = (id: string) => `/api/v1/policies/${encodeURIComponent(id)}`

export async function listPolicies(query: PolicyQuery = {}): Promise<PolicyPage> {
  return (await http.get<PolicyPage>('/api/v1/policies', { params: query })).data
}

export async function getPolicy(id: string): Promise<Policy> {
  return (await http.get<Policy>(base(id))).data
}

/** 409 when an enabled policy wants something else on a shared node: the message names it. */
export async function createPolicy(body: PolicyCreate): Promise<Policy> {
  return (await http.post<Policy>('/api/v1/policies', body)).data
}

export async function updatePolicy(id: string, body: PolicyUpdate): Promise<Policy> {
  return (await http.patch<Policy>(base(id), body)).data
}

/** Deployments the policy started run on. */
export async function deletePolicy(id: string): Promise<void> {
  await http.delete(base(id))
}

export async function getPolicyCompliance(
  id: string,
  query: { page_size?: number; page_token?: string; state?: ComplianceState } = {},
): Promise<PolicyCompliancePage> {
  return (await http.get<PolicyCompliancePage>(`${base(id)}/compliance`, { params: query })).data
}

export async function getComplianceSummary(): Promise<ComplianceSummary> {
  return (await http.get<ComplianceSummary>('/api/v1/compliance')).data
}
