/**
 * A listing the API pages by cursor (`page_token` → `next_page_token`), shown with page numbers: the token
 * that opens page n is kept at index n - 1, so pages are walked in order and only one page is ever held.
 */
import { computed, ref, type Ref } from 'vue'

import { errorMessage } from '@/api/client'

export interface CursorPage<T> {
  items: T[]
  next_page_token: string
  total?: number
}

export type PageFetcher<T> = (pageToken: string, pageSize: number) => Promise<CursorPage<T>>

export function useCursorPages<T>(fetchPage: PageFetcher<T>, options: { pageSize?: number; networkError: () => string }) {
  const items = ref([]) as Ref<T[]>
  const total = ref(0)
  const page = ref(1)
  const pageSize = ref(options.pageSize ?? 50)
  const loading = ref(false)
  const failure = ref('')
  const tokens = ref<string[]>([''])
  const hasNext = computed(() => Boolean(tokens.value[page.value]))
  let generation = 0

  /** Loads the current page; a reply that arrives after a newer request was made is dropped. */
  async function load(): Promise<void> {
    const mine = ++generation
    loading.value = true
    failure.value = ''
    try {
      const reply = await fetchPage(tokens.value[page.value - 1] ?? '', pageSize.value)
      if (mine !== generation) return
      items.value = reply.items
      total.value = reply.total ?? reply.items.length
      tokens.value[page.value] = reply.next_page_token
    } catch (error) {
      if (mine === generation) failure.value = errorMessage(error) ?? options.networkError()
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  /** Back to the first page (new filters, a new page size, a change made by the user). */
  function restart(): Promise<void> {
    page.value = 1
    tokens.value = ['']
    return load()
  }

  /** To page `next`: any page already walked, or the one after the current. */
  function turnTo(next: number): Promise<void> {
    if (next < 1 || next > tokens.value.length || (next > page.value && !tokens.value[next - 1])) {
      return Promise.resolve()
    }
    page.value = next
    return load()
  }

  return { items, total, page, pageSize, loading, failure, hasNext, load, restart, turnTo }
}
