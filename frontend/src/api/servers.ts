/** /api/v1/servers: the fleet, one page at a time, and what each server has installed and went through. */
import { http } from './client'

export type ServerStatus = 'pending' | 'online' | 'offline' | 'revoked'
export type Category = 'web' | 'database' | 'data-processing' | 'container' | 'general'
export type PackageFamily = 'deb' | 'rpm'

export const SERVER_STATUSES: ServerStatus[] = ['online', 'offline', 'pending', 'revoked']
export const CATEGORIES: Category[] = ['web', 'database', 'data-processing', 'container', 'general']
export const PACKAGE_FAMILIES: PackageFamily[] = ['deb', 'rpm']

export interface OsFacts {
  os_id: string
  id_like: string[]
  version_id: string
  pretty_name: string
  package_family: PackageFamily | null
  arch: string
  kernel: string
}

export interface Server {
  id: string
  hostname: string
  ip_address: string
  category: Category | null
  labels: Record<string, string>
  os: OsFacts
  agent_version: string
  status: ServerStatus | null
  last_seen: string | null
  created_at: string | null
  updated_at: string | null
  group_ids: string[]
}

export interface ServerPage {
  items: Server[]
  next_page_token: string
  total: number
}

export interface ServerQuery {
  page_size?: number
  page_token?: string
  /** Substring of the hostname or IP address. */
  q?: string
  group_id?: string
  status?: ServerStatus
  os_family?: PackageFamily
  category?: Category
  /** Selector: comma-separated key=value or key!=value terms, e.g. `env=prod,arch=x86_64`. */
  label?: string
}

export interface ServerCreate {
  hostname: string
  ip_address: string
  category: Category
  labels: Record<string, string>
  group_ids: string[]
}

export interface Installed {
  name: string
  version: string
  package_family: PackageFamily | null
  observed_at: string | null
  source: string | null
}

export interface InstalledPage {
  items: Installed[]
  next_page_token: string
}

export async function listServers(query: ServerQuery = {}): Promise<ServerPage> {
  return (await http.get<ServerPage>('/api/v1/servers', { params: query })).data
}

export async function getServer(id: string): Promise<Server> {
  return (await http.get<Server>(`/api/v1/servers/${encodeURIComponent(id)}`)).data
}

/** A server record made before its node enrolls (a join token for it links the two). */
export async function createServer(body: ServerCreate): Promise<Server> {
  return (await http.post<Server>('/api/v1/servers', body)).data
}

export async function listSoftware(
  id: string,
  query: { page_size?: number; page_token?: string } = {},
): Promise<InstalledPage> {
  return (await http.get<InstalledPage>(`/api/v1/servers/${encodeURIComponent(id)}/software`, { params: query })).data
}

/** Refuses the node's certificate from now on and closes its stream; the reason goes to the audit log. */
export async function revokeServer(id: string, reason: string): Promise<void> {
  await http.post(`/api/v1/servers/${encodeURIComponent(id)}/revoke`, { reason })
}

/** The fields of a deployment the server's detail shows (the deployments API has them all). */
export interface ServerDeployment {
  id: string
  software_name: string
  version: string
  action: 'install' | 'update' | 'uninstall' | 'rollback' | null
  state: string | null
  created_by: string
  created_at: string | null
}

/** What one node went through in a deployment. */
export interface ServerTarget {
  server_id: string
  state: string | null
  message: string
  installed_version: string
  finished_at: string | null
}

/** The newest deployments that include this server. */
export async function listServerDeployments(id: string, pageSize = 5): Promise<ServerDeployment[]> {
  const params = { server_id: id, page_size: pageSize }
  return (await http.get<{ items: ServerDeployment[] }>('/api/v1/deployments', { params })).data.items
}

/** This server's row of a deployment (null when the deployment does not include it). The row returned is
 * checked as well: a gateway that ignored the filter must not lend the server another node's state. */
export async function getServerTarget(deploymentId: string, serverId: string): Promise<ServerTarget | null> {
  const url = `/api/v1/deployments/${encodeURIComponent(deploymentId)}/targets`
  const params = { server_id: serverId, page_size: 1 }
  const { items } = (await http.get<{ items: ServerTarget[] }>(url, { params })).data
  return items.find((target) => target.server_id === serverId) ?? null
}
