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

/** How many of the catalog's software are asked about at once, and how far down the catalog to look. */
export const PROBE_BATCH = 5
export const PROBE_LIMIT = 20

/**
 * The software to show when the user has chosen none: the first (in the catalog's order) that some server
 * runs, so the card does not open on a package installed nowhere. The catalog says nothing of installs, so
 * a few are asked at a time, stopping at the first batch that has one; when none of the first
 * PROBE_LIMIT is installed anywhere (or the fleet cannot be asked), the first software it is.
 */
export async function firstInstalled(
  names: string[],
  read: (name: string) => Promise<VersionServers[] | null>,
): Promise<string> {
  const candidates = names.slice(0, PROBE_LIMIT)
  for (let start = 0; start < candidates.length; start += PROBE_BATCH) {
    const batch = candidates.slice(start, start + PROBE_BATCH)
    const running = await Promise.all(
      batch.map((name) => read(name).then((items) => (items === null ? null : serversRunning(items)), () => null)),
    )
    // A gateway without the distribution (null everywhere) or one that fails cannot tell: stop asking.
    if (running.every((count) => count === null)) break
    const found = batch.find((_, index) => (running[index] ?? 0) > 0)
    if (found) return found
  }
  return names[0] ?? ''
}
