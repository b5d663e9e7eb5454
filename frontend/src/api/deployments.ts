/** /api/v1/deployments: roll a package out to servers, follow it node by node, and steer it. */
import { http } from './client'
import type { Schedule, ScheduleIn } from './schedules'

export type Action = 'install' | 'update' | 'uninstall' | 'rollback'
export type DeploymentState = 'scheduled' | 'pending' | 'running' | 'paused' | 'succeeded' | 'failed' | 'cancelled'
export type TargetState =
  | 'pending'
  | 'assigned'
  | 'downloading'
  | 'installing'
  | 'succeeded'
  | 'unchanged'
  | 'failed'
  | 'skipped'
  | 'cancelled'
  | 'awaiting_approval'
export type Origin = 'manual' | 'policy'

export const ACTIONS: Action[] = ['install', 'update', 'uninstall', 'rollback']
export const DEPLOYMENT_STATES: DeploymentState[] = [
  'scheduled',
  'pending',
  'running',
  'paused',
  'succeeded',
  'failed',
  'cancelled',
]
export const TARGET_STATES: TargetState[] = [
  'pending',
  'assigned',
  'downloading',
  'awaiting_approval',
  'installing',
  'succeeded',
  'unchanged',
  'failed',
  'skipped',
  'cancelled',
]
/** Told to the node and not finished, as the scheduler counts them against the batch size. */
export const IN_FLIGHT_STATES: readonly TargetState[] = ['assigned', 'downloading', 'installing', 'awaiting_approval']
/** Done with for this attempt: only a retry starts the target again. */
export const FINAL_TARGET_STATES: readonly TargetState[] = ['succeeded', 'unchanged', 'failed', 'skipped', 'cancelled']

export function isInFlight(state: TargetState | null): boolean {
  return state !== null && IN_FLIGHT_STATES.includes(state)
}

export function isFinal(state: TargetState | null): boolean {
  return state !== null && FINAL_TARGET_STATES.includes(state)
}

/** Exactly one field is set. */
export interface Target {
  server_id?: string | null
  group_id?: string | null
  all?: boolean | null
  selector?: string | null
}

/** 0 means the scheduler's default; a count and its percentage are never both set. */
export interface Strategy {
  batch_size: number
  batch_percent: number
  max_failures: number
  max_failure_percent: number
  canary: boolean
  pause_between_batches_seconds: number
  require_approval: boolean
}

/** Targets per state, over the current attempt of every target. */
export type Counts = Record<TargetState, number> & { total: number }

export interface Deployment {
  id: string
  package_id: string
  software_name: string
  version: string
  action: Action | null
  target: Target | null
  strategy: Strategy
  state: DeploymentState | null
  state_reason: string
  origin: Origin | null
  policy_id: string
  schedule_id: string
  rollback_deployment_id: string
  override_maintenance_window: boolean
  counts: Counts
  current_batch: number
  batch_count: number
  created_by: string
  created_at: string | null
  updated_at: string | null
  started_at: string | null
  finished_at: string | null
}

export interface DeploymentPage {
  items: Deployment[]
  next_page_token: string
  total: number
}

export interface DeploymentQuery {
  page_size?: number
  page_token?: string
  state?: DeploymentState
  package_id?: string
  /** Exact software name. */
  software_name?: string
  policy_id?: string
  /** Deployments that include this server. */
  server_id?: string
  created_by?: string
  /** Created at or after (ISO-8601). */
  since?: string
  /** Created before (ISO-8601). */
  until?: string
}

export interface DeploymentCreate {
  package_id?: string
  action: Action
  target?: Target
  strategy?: Partial<Strategy>
  dry_run?: boolean
  /** With action rollback: the deployment to undo (its package and target are taken from it). */
  rollback_deployment_id?: string
  schedule?: ScheduleIn
  override_maintenance_window?: boolean
}

export interface ResolvedServer {
  server_id: string
  hostname: string
  installed_version: string
  batch: number
}

export interface IncompatibleServer {
  server_id: string
  hostname: string
  reason: string
}

/** `deployment` is null on a dry run; with a schedule it waits in "scheduled" and `schedule` is set. */
export interface DeploymentCreated {
  deployment: Deployment | null
  resolved: ResolvedServer[]
  incompatible: IncompatibleServer[]
  schedule: Schedule | null
}

export interface DeploymentTarget {
  deployment_id: string
  server_id: string
  hostname: string
  attempt: number
  batch: number
  state: TargetState | null
  progress_percent: number
  message: string
  previous_version: string
  installed_version: string
  started_at: string | null
  finished_at: string | null
  updated_at: string | null
}

export interface DeploymentTargetPage {
  items: DeploymentTarget[]
  next_page_token: string
  total: number
}

export interface TargetQuery {
  page_size?: number
  page_token?: string
  state?: TargetState
  /** 0: the current attempt. */
  attempt?: number
  /** 0: every batch. */
  batch?: number
  /** Substring of the hostname. */
  q?: string
}

export interface LogLine {
  time: string | null
  text: string
}

/** The head and the tail of a node's log; `dropped_lines` were cut from the middle. */
export interface TargetLog {
  lines: LogLine[]
  dropped_lines: number
}

const base = (id: string) => `/api/v1/deployments/${encodeURIComponent(id)}`

export async function listDeployments(query: DeploymentQuery = {}): Promise<DeploymentPage> {
  return (await http.get<DeploymentPage>('/api/v1/deployments', { params: query })).data
}

export async function getDeployment(id: string): Promise<Deployment> {
  return (await http.get<Deployment>(base(id))).data
}

/** Creates it (201), or with `dry_run` only previews its nodes (200, nothing written). */
export async function createDeployment(body: DeploymentCreate): Promise<DeploymentCreated> {
  return (await http.post<DeploymentCreated>('/api/v1/deployments', body)).data
}

export async function listTargets(id: string, query: TargetQuery = {}): Promise<DeploymentTargetPage> {
  return (await http.get<DeploymentTargetPage>(`${base(id)}/targets`, { params: query })).data
}

export async function getTargetLog(id: string, serverId: string, attempt = 0): Promise<TargetLog> {
  const url = `${base(id)}/targets/${encodeURIComponent(serverId)}/log`
  return (await http.get<TargetLog>(url, { params: { attempt } })).data
}

export async function pauseDeployment(id: string, reason = ''): Promise<Deployment> {
  return (await http.post<Deployment>(`${base(id)}/pause`, { reason })).data
}

export async function resumeDeployment(id: string): Promise<Deployment> {
  return (await http.post<Deployment>(`${base(id)}/resume`)).data
}

export async function cancelDeployment(id: string, reason = ''): Promise<Deployment> {
  return (await http.post<Deployment>(`${base(id)}/cancel`, { reason })).data
}

/** A new attempt for failed targets: those named, or every one when `serverIds` is empty. */
export async function retryDeployment(id: string, serverIds: string[] = []): Promise<{ deployment: Deployment; retried: number }> {
  return (await http.post<{ deployment: Deployment; retried: number }>(`${base(id)}/retry`, { server_ids: serverIds })).data
}

/** Lets targets awaiting approval go on: those named, or every one when `serverIds` is empty. */
export async function approveDeployment(
  id: string,
  serverIds: string[] = [],
): Promise<{ deployment: Deployment; approved: number }> {
  return (await http.post<{ deployment: Deployment; approved: number }>(`${base(id)}/approve`, { server_ids: serverIds }))
    .data
}
