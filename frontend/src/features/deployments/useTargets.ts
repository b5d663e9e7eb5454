/**
 * The targets of one deployment, twice: a table page (filtered, paged by the API) and an index of every
 * target for the batch timeline. Both are kept current by target events through one ledger, so a row
 * read after an event never shows an older state than the event did.
 */
import { reactive, ref, shallowRef, triggerRef, watch, type Ref } from 'vue'
import { useI18n } from 'vue-i18n'

import { errorMessage } from '@/api/client'
import { listTargets, type Counts, type DeploymentTarget, type TargetState } from '@/api/deployments'
import { useCursorPages } from '@/composables/useCursorPages'

import { applyTargetRows, TargetIndex, type TargetLedger } from './liveState'

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
  function apply(batch: DeploymentTarget[]): void {
    const rows = pages.items.value
    const appendable = !filters.state && !filters.q.trim() && !pages.hasNext.value
    const room = appendable ? Math.max(pages.pageSize.value - rows.length, 0) : 0
    pages.total.value += applyTargetRows(rows, batch, room)
  }

  return { ...pages, filters, apply }
}

/** Every target of the deployment (up to the limit), for the batch timeline, the counts and the log. The
 * rows are one array changed in place (a shallow ref told of each change): thousands of targets are not
 * copied or made deeply reactive on every event. */
export function useTargetIndex(id: Ref<string>, ledger: Ref<TargetLedger>) {
  const { t } = useI18n()
  let held = new TargetIndex()
  const targets = shallowRef<DeploymentTarget[]>(held.rows)
  /** The counts per state as the targets have them now; null until every target has been read. */
  const counts = shallowRef<Counts | null>(null)
  const failure = ref('')
  const complete = ref(true)
  const loaded = ref(false)
  let generation = 0

  function publish(): void {
    triggerRef(targets)
    counts.value = loaded.value && complete.value ? held.counts() : null
  }

  function hold(next: TargetIndex): void {
    held = next
    targets.value = next.rows
    publish()
  }

  async function load(): Promise<void> {
    const mine = ++generation
    failure.value = ''
    const read = new TargetIndex()
    let token = ''
    try {
      do {
        const page = await listTargets(id.value, { page_size: INDEX_PAGE, page_token: token })
        if (mine !== generation) return
        read.apply(page.items)
        token = page.next_page_token
      } while (token && read.rows.length < INDEX_LIMIT)
      // Events that came while later pages were read are newer than the earlier pages: the newer wins.
      read.apply(ledger.value.all())
      complete.value = !token
      loaded.value = true
      hold(read)
    } catch (error) {
      if (mine === generation) failure.value = errorMessage(error) ?? t('common.networkError')
    }
  }

  /** Target events, a frame's worth at a time. */
  function apply(batch: DeploymentTarget[]): void {
    if (held.apply(batch)) publish()
  }

  /** The target of one server as it is now; tracked like `targets`. */
  function find(serverId: string): DeploymentTarget | undefined {
    void targets.value
    return held.get(serverId)
  }

  watch(id, () => {
    generation += 1
    loaded.value = false
    hold(new TargetIndex())
  })

  return { targets, counts, failure, complete, load, apply, find }
}
