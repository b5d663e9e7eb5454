/**
 * The targets of one deployment, twice: a table page (filtered, paged by the API) and an index of every
 * target for the batch timeline. Both are kept current by target events through one ledger, so a row
 * read after an event never shows an older state than the event did.
 */
import { computed, reactive, ref, watch, type Ref } from 'vue'
import { useI18n } from 'vue-i18n'

import { errorMessage } from '@/api/client'
import { listTargets, type DeploymentTarget, type TargetState } from '@/api/deployments'
import { useCursorPages } from '@/composables/useCursorPages'

import { applyTargetRow, countsOf, newerTarget, TargetLedger } from './liveState'

export interface TargetFilters {
  state: TargetState | ''
  q: string
}

// The index walks every page of this size, up to the limit: a fleet larger than that shows the
// batches of the targets read so far.
const INDEX_PAGE = 500
const INDEX_LIMIT = 20_000

export function useTargetTable(id: Ref<string>, ledger: Ref<TargetLedger>) {
  const { t } = useI18n()
  const filters = reactive<TargetFilters>({ state: '', q: '' })
  const pages = useCursorPages<DeploymentTarget>(
    async (pageToken, pageSize) => {
      const query = { page_token: pageToken, page_size: pageSize, state: filters.state || undefined, q: filters.q.trim() }
      const page = await listTargets(id.value, query)
      return { ...page, items: ledger.value.overlay(page.items) }
    },
    { pageSize: 50, networkError: () => t('common.networkError') },
  )

  /** New targets appear only where they belong for sure: the unfiltered last page with room left. */
  function apply(target: DeploymentTarget): void {
    const rows = pages.items.value
    const appendable = !filters.state && !filters.q.trim() && !pages.hasNext.value && rows.length < pages.pageSize.value
    const before = rows.length
    applyTargetRow(rows, target, appendable)
    if (rows.length > before) pages.total.value += 1
  }

  return { ...pages, filters, apply }
}

export function useTargetIndex(id: Ref<string>, ledger: Ref<TargetLedger>) {
  const { t } = useI18n()
  const byServer = ref(new Map<string, DeploymentTarget>())
  const failure = ref('')
  const complete = ref(true)
  const loaded = ref(false)
  let generation = 0

  async function load(): Promise<void> {
    const mine = ++generation
    failure.value = ''
    const found = new Map<string, DeploymentTarget>()
    let token = ''
    try {
      do {
        const page = await listTargets(id.value, { page_size: INDEX_PAGE, page_token: token })
        if (mine !== generation) return
        for (const target of ledger.value.overlay(page.items)) found.set(target.server_id, target)
        token = page.next_page_token
      } while (token && found.size < INDEX_LIMIT)
      complete.value = !token
      for (const target of ledger.value.all()) if (!found.has(target.server_id)) found.set(target.server_id, target)
      byServer.value = found
      loaded.value = true
    } catch (error) {
      if (mine === generation) failure.value = errorMessage(error) ?? t('common.networkError')
    }
  }

  function apply(target: DeploymentTarget): void {
    byServer.value.set(target.server_id, newerTarget(byServer.value.get(target.server_id), target))
  }

  watch(id, () => {
    byServer.value = new Map()
    loaded.value = false
  })

  const targets = computed(() => [...byServer.value.values()])
  /** The counts per state as the targets have them now; null until every target has been read. */
  const counts = computed(() => (loaded.value && complete.value ? countsOf(targets.value) : null))

  return { targets, counts, failure, complete, load, apply }
}
