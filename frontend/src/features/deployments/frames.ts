/** Changes that arrive faster than a screen shows them, applied together once per animation frame: a
 * burst of events costs one update of the page instead of one per event. */

// Hidden tabs get no animation frames; a timer (which browsers slow down there) applies the changes then.
const FALLBACK_MS = 200

export interface FrameQueue<T> {
  /** Queues a change; a later change of the same key replaces it. */
  push(item: T): void
  /** Drops what is queued (the page now shows something else). */
  clear(): void
}

export function frameQueue<T>(key: (item: T) => string, flush: (items: T[]) => void): FrameQueue<T> {
  let queued = new Map<string, T>()
  let frame: number | undefined
  let timer: ReturnType<typeof setTimeout> | undefined

  function cancel(): void {
    if (frame !== undefined) cancelAnimationFrame(frame)
    clearTimeout(timer)
    frame = undefined
    timer = undefined
  }

  function run(): void {
    cancel()
    const items = [...queued.values()]
    queued = new Map()
    if (items.length) flush(items)
  }

  return {
    push(item) {
      queued.set(key(item), item)
      if (timer !== undefined) return
      if (typeof requestAnimationFrame === 'function') frame = requestAnimationFrame(run)
      timer = setTimeout(run, FALLBACK_MS)
    },
    clear() {
      cancel()
      queued = new Map()
    },
  }
}
