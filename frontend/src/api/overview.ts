/** The numbers the overview shows: counts read from list totals, and the fleet's installed versions. */
import { isAxiosError } from 'axios'

import { http } from './client'
import { listDeployments, type DeploymentQuery } from './deployments'
import { listServers, type ServerStatus } from './servers'

/** How many servers run one version of a software. */
export interface VersionServers {
  version: string
  servers: number
}

/** One row is enough: the list's `total` is the count. */
export async function countServers(status: ServerStatus): Promise<number> {
  return (await listServers({ status, page_size: 1 })).total
}

export async function countDeployments(query: Omit<DeploymentQuery, 'page_size' | 'page_token'>): Promise<number> {
  return (await listDeployments({ ...query, page_size: 1 })).total
}

/** Servers per installed version, newest first; null where the gateway does not offer this yet (404). */
export async function getDistribution(software: string): Promise<VersionServers[] | null> {
  const url = `/api/v1/software/${encodeURIComponent(software)}/distribution`
  try {
    return (await http.get<VersionServers[]>(url)).data
  } catch (error) {
    if (isAxiosError(error) && error.response?.status === 404) return null
    throw error
  }
}
