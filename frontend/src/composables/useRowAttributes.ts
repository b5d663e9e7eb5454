/**
 * Element Plus renders a table's rows itself and takes no attributes for them, so each body row is marked
 * after every render with what it shows (a host, a name, a raw state): browser tests and assistive tools
 * find a row by it.
 */
import { nextTick, onBeforeUnmount, watch, type Ref, type WatchSource } from 'vue'

export type RowAttributes = Record<string, string>

/** Sets each body row's attributes from the same-index entry; rows beyond the list are left alone. */
export function stampRows(table: HTMLElement, attributes: RowAttributes[]): void {
  const rows = table.querySelectorAll<HTMLTableRowElement>('.el-table__body tbody > tr.el-table__row')
  rows.forEach((row, index) => {
    for (const [name, value] of Object.entries(attributes[index] ?? {})) {
      if (row.getAttribute(name) !== value) row.setAttribute(name, value)
    }
  })
}

/** Keeps the rows of `table` marked while `source` (the rows' attributes) changes, and when the table
 * re-renders rows by itself (a table shown later with v-if is followed from when it appears). */
export function useRowAttributes(
  table: Ref<{ $el: HTMLElement } | null | undefined>,
  source: WatchSource<RowAttributes[]>,
): void {
  let latest: RowAttributes[] = []
  let observer: MutationObserver | null = null

  function stamp(): void {
    const element = table.value?.$el
    if (element instanceof HTMLElement) stampRows(element, latest)
  }

  watch(
    () => table.value?.$el,
    (element) => {
      observer?.disconnect()
      observer = null
      if (!(element instanceof HTMLElement)) return
      // Only rows coming and going are observed: setting attributes does not wake the observer again.
      observer = new MutationObserver(stamp)
      observer.observe(element, { childList: true, subtree: true })
      stamp()
    },
    { immediate: true, flush: 'post' },
  )
  watch(
    source,
    async (attributes) => {
      latest = attributes
      await nextTick()
      stamp()
    },
    { immediate: true, deep: true, flush: 'post' },
  )
  onBeforeUnmount(() => observer?.disconnect())
}
