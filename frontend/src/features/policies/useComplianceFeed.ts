/**
 * Live compliance of one policy: nodes' changes arrive on the event stream (`event: compliance`); while
 * the stream is not open (connecting, refused, gone) the page is read again every 10 s instead, but
 * only while the browser shows it.
 */
import { onBeforeUnmount, onMounted, ref } from 'vue'

import { watchEvents, type EventWatch } from '@/api/events'
import type { ComplianceEvent, NodeCompliance } from '@/api/policies'

export const POLL_MS = 10_000

export interface ComplianceFeedHandlers {
  /** A node of this policy changed state. */
  changed: (node: NodeCompliance) => void
  /** Changes may have been missed: read the page again. */
  reread: () => void
}

export function useComplianceFeed(policyId: () => string, handlers: ComplianceFeedHandlers) {
  const live = ref(false)
  let watch: EventWatch | null = null
  let timer: ReturnType<typeof setInterval> | undefined
  // The stream reports `closed` after it is stopped, that is after the page has gone: from then on no
  // report may start polling again.
  let stopped = false

  function poll(): void {
    if (stopped) return
    timer ??= setInterval(() => {
      if (document.visibilityState === 'visible') handlers.reread()
    }, POLL_MS)
  }

  function stopPolling(): void {
    clearInterval(timer)
    timer = undefined
  }

  onMounted(() => {
    poll()
    watch = watchEvents({
      onEvent: (event) => {
        if (event.type !== 'compliance') return
        const data = event.data as unknown as ComplianceEvent
        if (data.policy_id === policyId()) handlers.changed(data.compliance)
      },
      onStatus: (status) => {
        if (stopped) return
        const opened = status === 'open' && !live.value
        live.value = status === 'open'
        if (!live.value) return poll()
        stopPolling()
        // What changed between the last reading and the stream opening was sent to no one.
        if (opened) handlers.reread()
      },
      onResync: () => {
        if (!stopped) handlers.reread()
      },
    })
  })
  onBeforeUnmount(() => {
    stopped = true
    watch?.stop()
    stopPolling()
  })

  return { live }
}
