/**
 * Element Plus renders a table's rows itself and takes no attributes for them, so the rows are marked
 * after each render: browser tests and assistive tools find a row by what it shows (a host, a name).
 */
import { nextTick, watch, type Ref, type WatchSource } from 'vue'

export type RowAttributes = Record<string, string>

/** Sets each body row's attributes from the same-index entry; rows beyond the list are left alone. */
export function stampRows(table: HTMLElement, attributes: RowAttributes[]): void {
  const rows = table.querySelectorAll<HTMLTableRowElement>('.el-table__body tr.el-table__row')
  rows.forEach((row, index) => {
    for (const [name, value] of Object.entries(attributes[index] ?? {})) row.setAttribute(name, value)
  })
}

/** Keeps the rows of `table` marked while `source` (the rows' attributes) changes. */
export function useRowAttributes(
  table: Ref<{ $el: HTMLElement } | undefined>,
  source: WatchSource<RowAttributes[]>,
): void {
  watch(
    source,
    async (attributes) => {
      await nextTick()
      if (table.value) stampRows(table.value.$el, attributes)
    },
    { flush: 'post', immediate: true, deep: true },
  )
}
