/** Names of the groups and servers deployments target, read once per page load: a list names the same
 * group on many rows. A name that cannot be read shows as the start of its id. */
import { getGroup } from '@/api/groups'
import { getServer } from '@/api/servers'
import { serverLabel } from '@/utils/servers'

const groups = new Map<string, Promise<string>>()
const servers = new Map<string, Promise<string>>()

function shortId(id: string): string {
  return id.slice(0, 8)
}

function cached(cache: Map<string, Promise<string>>, id: string, read: () => Promise<string>): Promise<string> {
  let name = cache.get(id)
  if (!name) {
    name = read().catch(() => {
      // A failure is not kept: the next page asks again.
      cache.delete(id)
      return shortId(id)
    })
    cache.set(id, name)
  }
  return name
}

export function groupName(id: string): Promise<string> {
  return cached(groups, id, async () => (await getGroup(id)).name)
}

export function serverName(id: string): Promise<string> {
  return cached(servers, id, async () => serverLabel(await getServer(id)))
}
