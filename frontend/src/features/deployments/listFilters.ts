/** The filters of the deployments list, kept in the address (`?state=failed&since=…`), so a link from the
 * overview or a policy opens the list already filtered and a filtered list can be shared or reloaded. */
import type { LocationQuery, LocationQueryRaw } from 'vue-router'

import { DEPLOYMENT_STATES, type DeploymentQuery, type DeploymentState } from '@/api/deployments'

export interface ListFilters {
  state: DeploymentState | ''
  /** Exact software name. */
  software: string
  createdBy: string
  /** Created at or after (ISO-8601). */
  since: string
  /** Created before (ISO-8601). */
  until: string
  /** Deployments made by this sync policy. */
  policyId: string
}

/** Each filter's name in the address: the name the API gives it. */
const KEYS: Record<keyof ListFilters, string> = {
  state: 'state',
  software: 'software_name',
  createdBy: 'created_by',
  since: 'since',
  until: 'until',
  policyId: 'policy_id',
}

function first(value: LocationQuery[string] | undefined): string {
  const text = Array.isArray(value) ? value[0] : value
  return (text ?? '').trim()
}

function time(value: string): string {
  return value && !Number.isNaN(Date.parse(value)) ? value : ''
}

/** What the address asks for; an unknown state or a time that is no time is left out. */
export function filtersOf(query: LocationQuery): ListFilters {
  const state = first(query[KEYS.state]) as DeploymentState
  return {
    state: DEPLOYMENT_STATES.includes(state) ? state : '',
    software: first(query[KEYS.software]),
    createdBy: first(query[KEYS.createdBy]),
    since: time(first(query[KEYS.since])),
    until: time(first(query[KEYS.until])),
    policyId: first(query[KEYS.policyId]),
  }
}

/** The address with these filters: other parameters (the tab) stay, empty filters go. */
export function queryWith(query: LocationQuery, filters: ListFilters): LocationQueryRaw {
  const next: LocationQueryRaw = { ...query }
  for (const [field, key] of Object.entries(KEYS) as [keyof ListFilters, string][]) {
    const value = filters[field].trim()
    if (value) next[key] = value
    else delete next[key]
  }
  return next
}

export function isFiltered(filters: ListFilters): boolean {
  return Object.values(filters).some((value) => value.trim() !== '')
}

/** One page of the list as the API is asked for it. */
export function listQuery(filters: ListFilters, pageToken: string, pageSize: number): DeploymentQuery {
  return {
    page_token: pageToken,
    page_size: pageSize,
    state: filters.state || undefined,
    software_name: filters.software || undefined,
    created_by: filters.createdBy || undefined,
    since: filters.since || undefined,
    until: filters.until || undefined,
    policy_id: filters.policyId || undefined,
  }
}

/** A day chosen as the start: from its midnight, in the browser's timezone. */
export function sinceOf(day: Date | null): string {
  return day ? new Date(day.getFullYear(), day.getMonth(), day.getDate()).toISOString() : ''
}

/** A day chosen as the end counts whole: "until" is exclusive, so it is the next midnight. */
export function untilOf(day: Date | null): string {
  return day ? new Date(day.getFullYear(), day.getMonth(), day.getDate() + 1).toISOString() : ''
}

/** The day a picker shows for an end time: the day of its last moment. */
export function endDayOf(until: string): Date | null {
  return until ? new Date(Date.parse(until) - 1) : null
}
