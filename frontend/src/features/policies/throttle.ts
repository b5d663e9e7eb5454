/** At most one run per interval, at its end: a burst of calls, or calls that never pause, still run
 * `run` every `ms` (a debounce would wait for a quiet moment that a busy source never gives). */
export interface Throttled {
  (): void
  /** Drops a run still waiting: the caller has gone. */
  cancel(): void
}

export function throttle(run: () => void, ms: number): Throttled {
  let timer: ReturnType<typeof setTimeout> | undefined
  const throttled = (() => {
    timer ??= setTimeout(() => {
      timer = undefined
      run()
    }, ms)
  }) as Throttled
  throttled.cancel = () => {
    clearTimeout(timer)
    timer = undefined
  }
  return throttled
}
