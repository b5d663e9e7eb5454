/** A policy's target in words: group and server ids become their names, read once and kept. */
import { computed, ref } from 'vue'
import { useI18n } from 'vue-i18n'

import type { Target } from '@/api/deployments'
import { listGroups, type Group } from '@/api/groups'
import { getServer } from '@/api/servers'

export function useTargetNames() {
  const { t } = useI18n()
  const groups = ref<Group[]>([])
  const hostnames = ref<Record<string, string>>({})
  const groupNames = computed(() => new Map(groups.value.map((group) => [group.id, group.name])))

  /** A name that cannot be read leaves the id in its place: the target still says where it points. */
  async function loadGroups(): Promise<void> {
    try {
      groups.value = (await listGroups({ page_size: 500 })).items
    } catch {
      groups.value = []
    }
  }

  async function learnServers(ids: string[]): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => id && !(id in hostnames.value))
    await Promise.all(
      missing.map(async (id) => {
        const name = await getServer(id).then(
          (server) => server.hostname || server.ip_address,
          () => id,
        )
        hostnames.value = { ...hostnames.value, [id]: name }
      }),
    )
  }

  function describe(target: Target | null | undefined): string {
    if (target?.group_id) return t('policies.targetText.group', { name: groupNames.value.get(target.group_id) ?? target.group_id })
    if (target?.server_id) return t('policies.targetText.server', { name: hostnames.value[target.server_id] ?? target.server_id })
    if (target?.all) return t('policies.targetText.all')
    if (target?.selector) return t('policies.targetText.selector', { selector: target.selector })
    return t('policies.targetText.none')
  }

  return { groups, hostnames, loadGroups, learnServers, describe }
}
