/**
 * One deployment as it is now: read once, then kept current by its event stream until the page goes away.
 * The snapshot and the stream race each other, so the newer version of everything wins (liveState.ts).
 */
import { onBeforeUnmount, ref, watch, type Ref } from 'vue'
import { useI18n } from 'vue-i18n'

import { errorMessage } from '@/api/client'
import { getDeployment, type Deployment, type DeploymentTarget } from '@/api/deployments'
import { watchEvents, type EventWatch, type StreamProblem, type StreamStatus } from '@/api/events'

import { newerDeployment } from './liveState'

export interface LiveHandlers {
  /** A target changed (also for targets not shown anywhere yet). */
  onTarget: (target: DeploymentTarget) => void
  /** Events may have been missed: everything shown should be read again. */
  onResync: () => void
}

export function useDeploymentLive(id: Ref<string>, handlers: LiveHandlers) {
  const { t } = useI18n()
  const deployment = ref<Deployment | null>(null)
  const loading = ref(false)
  const failure = ref('')
  const status = ref<StreamStatus>('connecting')
  const problem = ref<StreamProblem | null>(null)
  let stream: EventWatch | null = null

  async function load(): Promise<void> {
    const wanted = id.value
    loading.value = true
    failure.value = ''
    try {
      const fresh = await getDeployment(wanted)
      if (wanted === id.value) deployment.value = newerDeployment(deployment.value, fresh)
    } catch (error) {
      if (wanted === id.value) failure.value = errorMessage(error) ?? t('common.networkError')
    } finally {
      if (wanted === id.value) loading.value = false
    }
  }

  /** A deployment the page got from a control's reply, or from the stream. */
  function take(next: Deployment): void {
    deployment.value = newerDeployment(deployment.value, next)
  }

  function watchStream(deploymentId: string): void {
    stream?.stop()
    problem.value = null
    stream = watchEvents({
      deploymentId,
      onEvent: (event) => {
        if (event.data.deployment_id !== deploymentId) return
        if (event.type === 'deployment') take(event.data.deployment)
        else if (event.type === 'target') handlers.onTarget(event.data.target)
      },
      onStatus: (next) => {
        status.value = next
        if (next === 'open') problem.value = null
      },
      onProblem: (next) => {
        problem.value = next
      },
      onResync: () => {
        void load()
        handlers.onResync()
      },
    })
  }

  /** After the stream gave up: follow it anew and read everything again (changes may have been missed). */
  function reconnect(): void {
    watchStream(id.value)
    void load()
    handlers.onResync()
  }

  watch(
    id,
    (next) => {
      deployment.value = null
      watchStream(next)
      void load()
    },
    { immediate: true },
  )
  onBeforeUnmount(() => stream?.stop())

  return { deployment, loading, failure, status, problem, load, take, reconnect }
}
