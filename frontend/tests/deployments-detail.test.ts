import { flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import type { Role } from '@/api/auth'
import { http } from '@/api/client'
import DeploymentDetailPage from '@/features/deployments/DeploymentDetailPage.vue'
import { createConsoleI18n } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

import { counts, deployment, settled, target } from './deployments-fixtures'

/** The event stream of the page: the test writes events into it as the gateway would. */
function eventStream() {
  const encoder = new TextEncoder()
  const streams: ReadableStreamDefaultController<Uint8Array>[] = []
  const urls: string[] = []
  const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    urls.push(String(url))
    const body = new ReadableStream<Uint8Array>({ start: (controller) => void streams.push(controller) })
    init?.signal?.addEventListener('abort', () => streams.at(-1)?.error(new DOMException('aborted', 'AbortError')))
    return new Response(body, { status: 200 })
  })
  let sequence = 0
  return {
    fetch,
    urls,
    send(type: 'deployment' | 'target', value: object) {
      sequence += 1
      const data = JSON.stringify({ sequence, time: null, deployment_id: 'd1', [type]: value })
      streams.at(-1)?.enqueue(encoder.encode(`id: ${sequence}\nevent: ${type}\ndata: ${data}\n\n`))
    },
  }
}

const later = (second: number) => `2026-11-28T07:01:${String(second).padStart(2, '0')}Z`

async function mountPage(role: Role) {
  localStorage.setItem('convoy.locale', 'en')
  const pinia = createPinia()
  setActivePinia(pinia)
  useAuthStore().keep({
    access_token: 'a1',
    token_type: 'Bearer',
    expires_in: 900,
    access_expires_at: null,
    refresh_token: 'r1',
    refresh_expires_at: null,
    user: { id: 'u1', username: 'ops', display_name: 'Ops', role, disabled: false, created_at: null, updated_at: null, last_login_at: null },
  })
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/deployments', name: 'deployments', component: { template: '<div />' } },
      { path: '/deployments/new', name: 'deployment-new', component: { template: '<div />' } },
      { path: '/deployments/:id', name: 'deployment', component: DeploymentDetailPage, props: true },
    ],
  })
  await router.push('/deployments/d1')
  const wrapper = mount(DeploymentDetailPage, {
    props: { id: 'd1' },
    global: { plugins: [pinia, router, createConsoleI18n()] },
  })
  await settled()
  await flushPromises()
  return wrapper
}

function states(wrapper: Awaited<ReturnType<typeof mountPage>>): Record<string, string> {
  return Object.fromEntries(
    wrapper.findAll('[data-test="target-row"]').map((row) => [row.attributes('data-host'), row.attributes('data-state')]),
  )
}

// Mounting the whole page with Element Plus takes a few seconds on a busy machine.
describe('a deployment, live', { timeout: 20_000 }, () => {
  let gateway: MockAdapter
  let stream: ReturnType<typeof eventStream>
  let targetReads = 0

  beforeEach(() => {
    gateway = new MockAdapter(http)
    stream = eventStream()
    vi.stubGlobal('fetch', stream.fetch)
    targetReads = 0
    const rows = [
      target({ server_id: 's1', hostname: 'demo-deb-1', batch: 1 }),
      target({ server_id: 's2', hostname: 'demo-deb-2', batch: 2 }),
    ]
    gateway.onGet('/api/v1/deployments/d1').reply(200, deployment({ state: 'running', counts: counts({ pending: 2 }) }))
    gateway.onGet('/api/v1/deployments/d1/targets').reply(() => {
      targetReads += 1
      return [200, { items: rows, next_page_token: '', total: 2 }]
    })
    gateway.onGet('/api/v1/groups/g1').reply(200, { id: 'g1', name: 'demo' })
  })
  afterEach(() => {
    gateway.restore()
    vi.unstubAllGlobals()
  })

  it('follows its nodes and its state from the event stream without reading them again', async () => {
    const wrapper = await mountPage('operator')
    expect(stream.urls).toEqual(['/api/v1/events?deployment_id=d1'])
    expect(states(wrapper)).toEqual({ 'demo-deb-1': 'pending', 'demo-deb-2': 'pending' })
    const readsBefore = targetReads

    stream.send('target', target({ server_id: 's1', hostname: 'demo-deb-1', state: 'succeeded', progress_percent: 100, updated_at: later(5) }))
    stream.send('target', target({ server_id: 's2', hostname: 'demo-deb-2', batch: 2, state: 'installing', updated_at: later(6) }))
    stream.send('deployment', deployment({ state: 'paused', state_reason: 'paused by ops', current_batch: 2, updated_at: later(7) }))
    // Target events show a frame later, all together.
    await vi.waitFor(() => expect(states(wrapper)).toEqual({ 'demo-deb-1': 'succeeded', 'demo-deb-2': 'installing' }))
    await settled()

    expect(wrapper.get('[data-test="deployment-state"]').attributes('data-state')).toBe('paused')
    expect(wrapper.get('[data-test="deployment-reason"]').text()).toBe('paused by ops')
    const tally = wrapper.findAll('[data-test="deployment-count"]').map((tag) => tag.attributes('data-state'))
    expect(tally).toEqual(['installing', 'succeeded'])
    expect(wrapper.findAll('[data-test="batch-timeline"] [data-status]').map((step) => step.attributes('data-status'))).toEqual([
      'success',
      'process',
    ])
    expect(wrapper.get('[data-test="deployment-resume"]').attributes('disabled')).toBeUndefined()
    expect(wrapper.get('[data-test="deployment-pause"]').attributes('disabled')).toBeDefined()
    expect(targetReads).toBe(readsBefore)
    wrapper.unmount()
  })

  it('shows a viewer no controls, and closes the stream when the page goes away', async () => {
    const wrapper = await mountPage('viewer')
    expect(wrapper.find('[data-test="deployment-pause"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="deployment-cancel"]').exists()).toBe(false)
    const signal = stream.fetch.mock.calls[0]?.[1]?.signal
    wrapper.unmount()
    expect(signal?.aborted).toBe(true)
  })
})
