/**
 * Options for a search-as-you-type select: the API searches a page of matches, so a large list is never
 * loaded whole, and the values already chosen keep their names while the search shows others.
 */
import { computed, ref, watch, type Ref } from 'vue'
import { useI18n } from 'vue-i18n'

import { errorMessage } from '@/api/client'

export interface RemoteSource<T extends { id: string }, O> {
  /** One page of matches for what was typed. */
  find: (query: string) => Promise<T[]>
  /** One record by id, to name a value set from outside (the address bar, an edited record). */
  get: (id: string) => Promise<T>
  /** The option shown for an id; `item` is missing while (or when) its record can't be read. */
  option: (id: string, item: T | undefined) => O
}

/** `model` holds ids when the select is multiple, otherwise one id ('' for none). */
export function useRemoteOptions<T extends { id: string }, O>(model: Ref<string | string[]>, source: RemoteSource<T, O>) {
  const { t } = useI18n()
  const found = ref<T[]>([]) as Ref<T[]>
  const known = ref(new Map<string, T>()) as Ref<Map<string, T>>
  const loading = ref(false)
  const failure = ref('')
  // Replies can arrive out of order: only the newest search may fill the list.
  let generation = 0

  const chosenIds = computed(() => (Array.isArray(model.value) ? model.value : model.value ? [model.value] : []))
  const options = computed(() => {
    const chosen = chosenIds.value.map((id) => source.option(id, known.value.get(id)))
    const rest = found.value
      .filter((item) => !chosenIds.value.includes(item.id))
      .map((item) => source.option(item.id, item))
    return [...chosen, ...rest]
  })

  function remember(items: T[]): void {
    for (const item of items) known.value.set(item.id, item)
  }

  async function search(query: string): Promise<void> {
    const mine = ++generation
    loading.value = true
    failure.value = ''
    try {
      const items = await source.find(query.trim())
      if (mine !== generation) return
      found.value = items
      remember(items)
    } catch (error) {
      if (mine !== generation) return
      found.value = []
      failure.value = errorMessage(error) ?? t('common.networkError')
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  /** A value set from outside shows the record's name, not its id. */
  async function nameChosen(ids: string[]): Promise<void> {
    const missing = ids.filter((id) => !known.value.has(id))
    const items = await Promise.all(missing.map((id) => source.get(id).catch(() => null)))
    remember(items.filter((item): item is Awaited<T> => item !== null))
  }

  /** The first opening searches with nothing typed, so the list is never empty for no reason. */
  function opened(visible: boolean): void {
    if (visible && !found.value.length) void search('')
  }

  watch(chosenIds, (ids) => void nameChosen(ids), { immediate: true })

  return { options, loading, failure, search, opened }
}
