/** /api/v1/join-tokens: one-time secrets that let a node enroll. */
import { http } from './client'

export interface JoinTokenCreate {
  /** An existing server record the node becomes; empty: the node gets a new record. */
  server_id?: string
  /** Groups a new node joins when it enrolls. */
  group_ids?: string[]
  /** Lifetime; 0 or left out: auth's default (30 minutes unless configured). */
  ttl_seconds?: number
  /** Enrollments allowed; 0 or left out: one. */
  max_uses?: number
}

export interface JoinToken {
  id: string
  server_id: string
  group_ids: string[]
  expires_at: string | null
  max_uses: number
  uses: number
  revoked: boolean
  created_by: string
  created_at: string | null
}

/** `token` and the commands are shown only in this reply, never again. */
export interface JoinTokenCreated {
  join_token: JoinToken
  token: string
  ca_fingerprint: string
  /** Enrolls a node where the agent is installed. */
  command: string
  /** Installs the agent from the gateway's packages, then enrolls the node (the token in the environment:
   * CONVOY_JOIN_TOKEN=… sh -c 'curl … | sudo --preserve-env=CONVOY_JOIN_TOKEN sh -s -- …'). Null when it
   * could not work here (no packages on the gateway, plain HTTP outside dev mode). */
  install_command: string | null
  /** Why there is no install_command. */
  install_unavailable?: string | null
}

export interface JoinTokenPage {
  items: JoinToken[]
  next_page_token: string
}

export async function createJoinToken(body: JoinTokenCreate): Promise<JoinTokenCreated> {
  return (await http.post<JoinTokenCreated>('/api/v1/join-tokens', body)).data
}

export async function listJoinTokens(
  query: { page_size?: number; page_token?: string; include_expired?: boolean } = {},
): Promise<JoinTokenPage> {
  return (await http.get<JoinTokenPage>('/api/v1/join-tokens', { params: query })).data
}

/** Nodes that already enrolled with it stay. */
export async function revokeJoinToken(id: string): Promise<void> {
  await http.delete(`/api/v1/join-tokens/${encodeURIComponent(id)}`)
}
