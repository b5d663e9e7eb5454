/** /api/v1/servers: the fleet, one page at a time. */
import { http } from './client'

export type ServerStatus = 'pending' | 'online' | 'offline' | 'revoked'
export type Category = 'web' | 'database' | 'data-processing' | 'container' | 'general'

export interface OsFacts {
  os_id: string
  id_like: string[]
  version_id: string
  pretty_name: string
  package_family: 'deb' | 'rpm' | null
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
  q?: string
}

export async function listServers(query: ServerQuery = {}): Promise<ServerPage> {
  return (await http.get<ServerPage>('/api/v1/servers', { params: query })).data
}
