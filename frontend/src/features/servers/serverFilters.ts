/** The servers list's filters, as the page holds them, as the address bar keeps them and as the API takes them. */
import type { LocationQuery, LocationQueryRaw } from 'vue-router'

import {
  CATEGORIES,
  PACKAGE_FAMILIES,
  SERVER_STATUSES,
  type Category,
  type PackageFamily,
  type ServerQuery,
  type ServerStatus,
} from '@/api/servers'
import { normalizeSelector } from '@/utils/selector'

export interface ServerFilters {
  search: string
  groupId: string
  status: ServerStatus | ''
  osFamily: PackageFamily | ''
  category: Category | ''
  /** Selector text: `env=prod,arch!=aarch64`. */
  label: string
}

export function emptyFilters(): ServerFilters {
  return { search: '', groupId: '', status: '', osFamily: '', category: '', label: '' }
}

/** Only the filters that are set: an empty parameter would ask the API for an empty value. */
export function filtersToQuery(filters: ServerFilters): ServerQuery {
  const query: ServerQuery = {}
  const search = filters.search.trim()
  const label = normalizeSelector(filters.label)
  if (search) query.q = search
  if (filters.groupId) query.group_id = filters.groupId
  if (filters.status) query.status = filters.status
  if (filters.osFamily) query.os_family = filters.osFamily
  if (filters.category) query.category = filters.category
  if (label) query.label = label
  return query
}

/** The address bar's form, so a filtered list can be bookmarked, shared and reached from other pages. */
export function filtersToRoute(filters: ServerFilters): LocationQueryRaw {
  return { ...filtersToQuery(filters) }
}

function one(value: LocationQuery[string] | undefined): string {
  const first = Array.isArray(value) ? value[0] : value
  return typeof first === 'string' ? first : ''
}

function pick<T extends string>(value: string, allowed: readonly T[]): T | '' {
  return allowed.find((choice) => choice === value) ?? ''
}

/** Unknown enum values from a hand-edited address are dropped rather than sent to the API. */
export function filtersFromRoute(query: LocationQuery): ServerFilters {
  return {
    search: one(query.q),
    groupId: one(query.group_id),
    status: pick(one(query.status), SERVER_STATUSES),
    osFamily: pick(one(query.os_family), PACKAGE_FAMILIES),
    category: pick(one(query.category), CATEGORIES),
    label: one(query.label),
  }
}

export function hasFilters(filters: ServerFilters): boolean {
  return Object.keys(filtersToQuery(filters)).length > 0
}

export type LabelParse = { labels: Record<string, string> } | { invalid: string }

/** Labels typed one per line or comma-separated as key=value; the first bad term is named back. */
export function parseLabels(text: string): LabelParse {
  const labels: Record<string, string> = {}
  for (const term of text.split(/[\n,]/).map((part) => part.trim()).filter(Boolean)) {
    const cut = term.indexOf('=')
    const key = cut > 0 ? term.slice(0, cut).trim() : ''
    if (!key) return { invalid: term }
    labels[key] = term.slice(cut + 1).trim()
  }
  return { labels }
}
