/** /api/v1/schedules: deployments that start later, once or on every tick of a cron expression. */
import { http } from './client'
import type { Action, Strategy, Target } from './deployments'

export type ScheduleState = 'active' | 'done' | 'cancelled'

/** Once at `at` (ISO-8601 with its UTC offset), or on every tick of `cron` (five fields) in `timezone`
 * (an IANA name; UTC when left out). Exactly one of `at` and `cron`. */
export interface ScheduleIn {
  at?: string
  cron?: string
  timezone?: string
}

export interface ScheduleOut {
  at: string | null
  cron: string | null
  timezone: string | null
}

export interface Schedule {
  id: string
  package_id: string
  software_name: string
  version: string
  action: Action | null
  target: Target | null
  strategy: Strategy
  schedule: ScheduleOut
  state: ScheduleState | null
  next_run_at: string | null
  last_run_at: string | null
  last_deployment_id: string
  /** The deployment waiting in state "scheduled" for next_run_at. */
  next_deployment_id: string
  override_maintenance_window: boolean
  /** Why the last run could not start, or why a tick was skipped; empty when it started. */
  last_error: string
  created_by: string
  created_at: string | null
  updated_at: string | null
}

export interface SchedulePage {
  items: Schedule[]
  next_page_token: string
}

export interface ScheduleQuery {
  page_size?: number
  page_token?: string
  state?: ScheduleState
}

/** Fields left out stay as they are; at least one is given. */
export interface ScheduleUpdate {
  schedule?: ScheduleIn
  strategy?: Partial<Strategy>
}

const base = (id: string) => `/api/v1/schedules/${encodeURIComponent(id)}`

/** The soonest next run first; done and cancelled ones after them. */
export async function listSchedules(query: ScheduleQuery = {}): Promise<SchedulePage> {
  return (await http.get<SchedulePage>('/api/v1/schedules', { params: query })).data
}

export async function getSchedule(id: string): Promise<Schedule> {
  return (await http.get<Schedule>(base(id))).data
}

/** Only an active schedule changes; package, action and target never do. */
export async function updateSchedule(id: string, body: ScheduleUpdate): Promise<Schedule> {
  return (await http.patch<Schedule>(base(id), body)).data
}

/** No more runs; the deployment waiting for the next one is cancelled, started runs go on. */
export async function cancelSchedule(id: string): Promise<Schedule> {
  return (await http.post<Schedule>(`${base(id)}/cancel`)).data
}
