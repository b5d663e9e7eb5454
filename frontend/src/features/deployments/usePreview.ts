/** The live preview of a deployment being composed: asked again shortly after the form stops changing,
 * and a reply to an older form is dropped. A target may mean a whole fleet: the counts are whole, the
 * rows kept are the first few of each list. */
import { onBeforeUnmount, ref, shallowRef, watch, type Ref } from 'vue'
import { useI18n } from 'vue-i18n'

import { errorMessage } from '@/api/client'
import { createDeployment, type IncompatibleServer, type ResolvedServer } from '@/api/deployments'
import type { Server } from '@/api/servers'
import { resolveTargets } from '@/api/targets'

import { previewRequest, type DeployForm, type PreviewRequest } from './deployForm'

export const PREVIEW_DELAY_MS = 400
/** Rows shown per list; the rest are counted. */
export const PREVIEW_ROWS = 100

/** The first rows of a list and how long it is. */
export interface Shown<T> {
  rows: T[]
  total: number
}

function shown<T>(items: T[], total = items.length): Shown<T> {
  return { rows: items.slice(0, PREVIEW_ROWS), total }
}

export function usePreview(form: Ref<DeployForm>) {
  const { t } = useI18n()
  const kind = ref<'idle' | 'resolve' | 'dryRun'>('idle')
  const loading = ref(false)
  const failure = ref('')
  const servers = shallowRef<Shown<Server>>(shown([]))
  const resolved = shallowRef<Shown<ResolvedServer>>(shown([]))
  const incompatible = shallowRef<Shown<IncompatibleServer>>(shown([]))
  let timer: ReturnType<typeof setTimeout> | undefined
  let generation = 0

  async function ask(request: PreviewRequest, mine: number): Promise<void> {
    if (!request) return
    try {
      if (request.kind === 'resolve') {
        const reply = await resolveTargets(request.target)
        if (mine === generation) show(shown(reply.items, reply.total), shown([]), shown([]))
      } else {
        const reply = await createDeployment(request.body)
        if (mine === generation) show(shown([]), shown(reply.resolved), shown(reply.incompatible))
      }
    } catch (error) {
      if (mine !== generation) return
      failure.value = errorMessage(error) ?? t('common.networkError')
      show(shown([]), shown([]), shown([]))
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  function show(nextServers: Shown<Server>, nextResolved: Shown<ResolvedServer>, nextIncompatible: Shown<IncompatibleServer>): void {
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
    if (request?.kind !== kind.value) show(shown([]), shown([]), shown([]))
    kind.value = request?.kind ?? 'idle'
    timer = setTimeout(() => void ask(request, mine), PREVIEW_DELAY_MS)
  }

  const request = () => previewRequest(form.value)
  // Compared as text: a new but equal request (another field of the form changed) asks nothing.
  watch(() => JSON.stringify(request()), () => refresh(request()), { immediate: true })
  onBeforeUnmount(() => clearTimeout(timer))

  return { kind, loading, failure, servers, resolved, incompatible }
}
