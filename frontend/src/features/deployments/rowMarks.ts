/**
 * Element Plus renders a table's rows itself and takes no attributes for them, so each row is marked
 * after every render with what it shows: browser tests find a row by its id, host or state.
 */
import { nextTick, onBeforeUnmount, watch, type Ref } from 'vue'

export function useRowMarks<T>(
  table: Ref<{ $el: HTMLElement } | null | undefined>,
  rows: Ref<T[]>,
  marks: (row: T) => Record<string, string>,
): void {
  let observer: MutationObserver | null = null

  function mark(): void {
    const body = table.value?.$el.querySelector('.el-table__body tbody')
    body?.querySelectorAll(':scope > tr.el-table__row').forEach((tr, index) => {
      const row = rows.value[index]
      if (row === undefined) return
      for (const [name, value] of Object.entries(marks(row))) {
        if (tr.getAttribute(name) !== value) tr.setAttribute(name, value)
      }
    })
  }

  // A table shown later (v-if) is watched from when it appears; rows it re-renders by itself are caught
  // by the observer.
  watch(
    () => table.value?.$el,
    (element) => {
      observer?.disconnect()
      observer = null
      if (!(element instanceof HTMLElement)) return
      observer = new MutationObserver(mark)
      observer.observe(element, { childList: true, subtree: true })
      mark()
    },
    { immediate: true, flush: 'post' },
  )
  onBeforeUnmount(() => observer?.disconnect())
  watch(rows, () => nextTick(mark), { deep: true })
}
