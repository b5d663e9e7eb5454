/** /api/v1/targets/resolve: the servers a target means now (revoked ones never count). */
import { http } from './client'
import type { Target } from './deployments'
import type { ServerPage } from './servers'

export type ResolvedTargets = Omit<ServerPage, 'next_page_token'>

export async function resolveTargets(target: Target): Promise<ResolvedTargets> {
  return (await http.post<ResolvedTargets>('/api/v1/targets/resolve', target)).data
}
