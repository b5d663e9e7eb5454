/** A software's installed versions as the bars of a chart: each bar as wide as its share of the servers. */
import type { VersionServers } from '@/api/overview'

export interface VersionBar {
  version: string
  servers: number
  /** Share of the servers that run the software, 0–100 with one decimal: the bar's width. */
  percent: number
}

/** In the order the gateway gives (newest version first); versions no server runs are left out. */
export function distributionBars(items: VersionServers[] | null | undefined): VersionBar[] {
  const rows = (items ?? []).filter((item) => item.servers > 0)
  const total = rows.reduce((sum, item) => sum + item.servers, 0)
  return rows.map((item) => ({
    version: item.version,
    servers: item.servers,
    percent: Math.round((item.servers / total) * 1000) / 10,
  }))
}

/** How many servers run the software at all. */
export function serversRunning(items: VersionServers[] | null | undefined): number {
  return (items ?? []).reduce((sum, item) => sum + item.servers, 0)
}
