/** The live preview of a deployment being composed: asked again shortly after the form stops changing,
 * and a reply to an older form is dropped. */
import { onBeforeUnmount, ref, watch, type Ref } from 'vue'
import { useI18n } from 'vue-i18n'

import { errorMessage } from '@/api/client'
import { createDeployment, type IncompatibleServer, type ResolvedServer } from '@/api/deployments'
import type { Server } from '@/api/servers'
import { resolveTargets } from '@/api/targets'

import { previewRequest, type DeployForm, type PreviewRequest } from './deployForm'

export const PREVIEW_DELAY_MS = 400

export function usePreview(form: Ref<DeployForm>) {
  const { t } = useI18n()
  const kind = ref<'idle' | 'resolve' | 'dryRun'>('idle')
  const loading = ref(false)
  const failure = ref('')
  const servers = ref<Server[]>([])
  const resolved = ref<ResolvedServer[]>([])
  const incompatible = ref<IncompatibleServer[]>([])
  let timer: ReturnType<typeof setTimeout> | undefined
  let generation = 0

  async function ask(request: PreviewRequest, mine: number): Promise<void> {
    if (!request) return
    try {
      if (request.kind === 'resolve') {
        const reply = await resolveTargets(request.target)
        if (mine === generation) show(reply.items, [], [])
      } else {
        const reply = await createDeployment(request.body)
        if (mine === generation) show([], reply.resolved, reply.incompatible)
      }
    } catch (error) {
      if (mine !== generation) return
      failure.value = errorMessage(error) ?? t('common.networkError')
      show([], [], [])
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  function show(nextServers: Server[], nextResolved: ResolvedServer[], nextIncompatible: IncompatibleServer[]): void {
    servers.value = nextServers
    resolved.value = nextResolved
    incompatible.value = nextIncompatible
  }

  /** The last answer stays on screen, dimmed, until the next one arrives. */
  function refresh(request: PreviewRequest): void {
    clearTimeout(timer)
    const mine = ++generation
    failure.value = ''
    loading.value = request !== null
    if (request?.kind !== kind.value) show([], [], [])
    kind.value = request?.kind ?? 'idle'
    timer = setTimeout(() => void ask(request, mine), PREVIEW_DELAY_MS)
  }

  const request = () => previewRequest(form.value)
  // Compared as text: a new but equal request (another field of the form changed) asks nothing.
  watch(() => JSON.stringify(request()), () => refresh(request()), { immediate: true })
  onBeforeUnmount(() => clearTimeout(timer))

  return { kind, loading, failure, servers, resolved, incompatible }
}
