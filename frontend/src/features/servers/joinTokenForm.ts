/** The join-token form as the user fills it, and the request it makes. */
import type { JoinTokenCreate } from '@/api/joinTokens'

export interface JoinTokenForm {
  groupIds: string[]
  /** Minutes; auth checks the bounds and its refusal names them. */
  ttlMinutes: number
  maxUses: number
}

export function defaultJoinTokenForm(): JoinTokenForm {
  return { groupIds: [], ttlMinutes: 30, maxUses: 1 }
}

/** A token for an existing record is single-use and the record already has its groups. */
export function joinTokenRequest(form: JoinTokenForm, serverId = ''): JoinTokenCreate {
  const ttl_seconds = Math.round(form.ttlMinutes * 60)
  if (serverId) return { server_id: serverId, ttl_seconds }
  return { group_ids: [...form.groupIds], ttl_seconds, max_uses: form.maxUses }
}
