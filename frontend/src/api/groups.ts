/** /api/v1/groups: server groups, their maintenance windows and their members. */
import { http } from './client'
import type { Category, ServerPage } from './servers'

export interface MaintenanceWindow {
  /** Five-field cron expression: when a window opens. */
  cron: string
  duration_seconds: number
  /** IANA zone the cron is read in, e.g. Asia/Shanghai. */
  timezone: string
}

export interface Group {
  id: string
  name: string
  description: string
  category: Category | null
  maintenance_window: MaintenanceWindow | null
  member_count: number
  created_at: string | null
  updated_at: string | null
}

export interface GroupPage {
  items: Group[]
  next_page_token: string
  total: number
}

export interface GroupQuery {
  page_size?: number
  page_token?: string
  /** Substring of the name or description. */
  q?: string
  category?: Category
}

export interface GroupCreate {
  name: string
  description?: string
  category?: Category | null
  maintenance_window?: MaintenanceWindow | null
}

/** Fields left out stay; an explicit null category or maintenance_window removes it. */
export type GroupUpdate = Partial<GroupCreate>

export async function listGroups(query: GroupQuery = {}): Promise<GroupPage> {
  return (await http.get<GroupPage>('/api/v1/groups', { params: query })).data
}

export async function getGroup(id: string): Promise<Group> {
  return (await http.get<Group>(`/api/v1/groups/${encodeURIComponent(id)}`)).data
}

export async function createGroup(body: GroupCreate): Promise<Group> {
  return (await http.post<Group>('/api/v1/groups', body)).data
}

export async function updateGroup(id: string, body: GroupUpdate): Promise<Group> {
  return (await http.patch<Group>(`/api/v1/groups/${encodeURIComponent(id)}`, body)).data
}

/** The group's servers stay in the fleet. */
export async function deleteGroup(id: string): Promise<void> {
  await http.delete(`/api/v1/groups/${encodeURIComponent(id)}`)
}

export async function listMembers(id: string, query: { page_size?: number; page_token?: string } = {}): Promise<ServerPage> {
  return (await http.get<ServerPage>(`/api/v1/groups/${encodeURIComponent(id)}/members`, { params: query })).data
}

/** Servers already in the group are skipped: `added` counts only the new ones. */
export async function addMembers(id: string, serverIds: string[]): Promise<{ added: number }> {
  const url = `/api/v1/groups/${encodeURIComponent(id)}/members`
  return (await http.post<{ added: number }>(url, { server_ids: serverIds })).data
}

export async function removeMember(id: string, serverId: string): Promise<void> {
  await http.delete(`/api/v1/groups/${encodeURIComponent(id)}/members/${encodeURIComponent(serverId)}`)
}
