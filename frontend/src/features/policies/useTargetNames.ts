/** A policy's target in words: the group and server ids of the targets shown are read by id when first
 * shown and kept, so any number of groups can be targeted and only the names on screen are asked for. */
import { ref } from 'vue'
import { useI18n } from 'vue-i18n'

import type { Target } from '@/api/deployments'
import { getGroup } from '@/api/groups'
import { getServer } from '@/api/servers'
import { serverLabel } from '@/utils/servers'

type Kind = 'group' | 'server'

const readName: Record<Kind, (id: string) => Promise<string>> = {
  group: async (id) => (await getGroup(id)).name,
  server: async (id) => serverLabel(await getServer(id)),
}

export function useTargetNames() {
  const { t } = useI18n()
  const known = { group: ref<Record<string, string>>({}), server: ref<Record<string, string>>({}) }
  const asked = new Set<string>()

  /** A name that cannot be read leaves the id in its place (the target still says where it points),
   * and is asked for again the next time it is shown. */
  async function learnOne(kind: Kind, id: string): Promise<void> {
    const key = `${kind}:${id}`
    if (asked.has(key)) return
    asked.add(key)
    try {
      const name = await readName[kind](id)
      known[kind].value = { ...known[kind].value, [id]: name }
    } catch {
      asked.delete(key)
    }
  }

  async function learn(targets: (Target | null | undefined)[]): Promise<void> {
    await Promise.all(
      targets.flatMap((target) => [
        ...(target?.group_id ? [learnOne('group', target.group_id)] : []),
        ...(target?.server_id ? [learnOne('server', target.server_id)] : []),
      ]),
    )
  }

  function nameOf(kind: Kind, id: string): string {
    return known[kind].value[id] ?? id
  }

  function describe(target: Target | null | undefined): string {
    if (target?.group_id) return t('policies.targetText.group', { name: nameOf('group', target.group_id) })
    if (target?.server_id) return t('policies.targetText.server', { name: nameOf('server', target.server_id) })
    if (target?.all) return t('policies.targetText.all')
    if (target?.selector) return t('policies.targetText.selector', { selector: target.selector })
    return t('policies.targetText.none')
  }

  return { learn, describe }
}
