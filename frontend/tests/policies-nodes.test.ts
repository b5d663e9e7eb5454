import { flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import { http } from '@/api/client'
import type { NodeCompliance, Policy } from '@/api/policies'
import { applyNodeChange } from '@/features/policies/compliance'
import PolicyCompliancePage from '@/features/policies/PolicyCompliancePage.vue'
import { createConsoleI18n } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

const at = (second: number) => `2026-11-28T07:00:${String(second).padStart(2, '0')}Z`

function node(hostname: string, overrides: Partial<NodeCompliance> = {}): NodeCompliance {
  return {
    policy_id: 'p-web',
    server_id: `s-${hostname}`,
    hostname,
    desired_version: '1.24.0-1',
    installed_version: '1.24.0-1',
    state: 'compliant',
    deployment_id: '',
    message: '',
    failed_attempts: 0,
    retry_at: null,
    checked_at: at(1),
    changed_at: at(1),
    ...overrides,
  }
}

const policy: Policy = {
  id: 'p-web',
  name: 'nginx on web',
  target: { group_id: 'g-web' },
  software_name: 'nginx',
  version: '1.24.0-1',
  state: 'present',
  strategy: {
    batch_size: 0,
    batch_percent: 25,
    max_failures: 1,
    max_failure_percent: 0,
    canary: false,
    pause_between_batches_seconds: 0,
    require_approval: false,
  },
  mode: 'enforce',
  enabled: true,
  created_by: 'admin',
  created_at: null,
  updated_at: null,
}

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
}

describe('a node change from the event stream', () => {
  it('replaces the row of that node', () => {
    const rows = [node('web-01'), node('web-02')]
    expect(applyNodeChange(rows, node('web-02', { state: 'converging', checked_at: at(5) }))).toBe(true)
    expect(rows.map((row) => row.state)).toEqual(['compliant', 'converging'])
  })

  it('never takes an older check over a newer reading', () => {
    const rows = [node('web-01', { state: 'drifted', checked_at: at(9) })]
    expect(applyNodeChange(rows, node('web-01', { state: 'compliant', checked_at: at(5) }))).toBe(false)
    expect(rows[0]?.state).toBe('drifted')
  })

  it('leaves a node not on the page to the next reading', () => {
    const rows = [node('web-01')]
    expect(applyNodeChange(rows, node('web-09'))).toBe(false)
    expect(rows).toHaveLength(1)
  })
})

describe('the compliance of one policy', () => {
  let gateway: MockAdapter
  let stream: ReadableStreamDefaultController<Uint8Array>
  let mounted: { unmount: () => void } | null = null

  beforeEach(() => {
    gateway = new MockAdapter(http)
    gateway.onGet('/api/v1/policies/p-web').reply(200, policy)
    gateway.onGet('/api/v1/groups/g-web').reply(200, { id: 'g-web', name: 'web' })
    gateway.onGet('/api/v1/policies/p-web/compliance').reply(200, {
      items: [
        node('web-01'),
        node('web-02', {
          state: 'failed',
          installed_version: '1.22.1-1',
          deployment_id: 'd-123456789',
          message: 'dpkg: dependency problems',
          failed_attempts: 2,
          retry_at: at(59),
        }),
      ],
      next_page_token: '',
      counts: { total: 2, compliant: 1, drifted: 0, converging: 0, failed: 1, incompatible: 0 },
    })
    // Like a browser's fetch, the body fails once the request is aborted.
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init?: RequestInit) => {
        const body = new ReadableStream<Uint8Array>({
          start: (controller) => {
            stream = controller
            init?.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')))
          },
        })
        return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } })
      }),
    )
  })
  afterEach(() => {
    mounted?.unmount()
    mounted = null
    gateway.restore()
    vi.unstubAllGlobals()
    vi.useRealTimers()
    document.body.innerHTML = ''
  })

  function complianceReads(): number {
    return gateway.history.get.filter((request) => request.url === '/api/v1/policies/p-web/compliance').length
  }

  function send(change: NodeCompliance, sequence: number): void {
    const event = JSON.stringify({ sequence, time: change.checked_at, policy_id: 'p-web', compliance: change })
    stream.enqueue(new TextEncoder().encode(`id: ${sequence}\nevent: compliance\ndata: ${event}\n\n`))
  }

  async function mountPage() {
    localStorage.setItem('convoy.locale', 'en')
    const pinia = createPinia()
    setActivePinia(pinia)
    const user = { id: 'u', username: 'v', display_name: '', role: 'viewer' as const, disabled: false, created_at: null, updated_at: null, last_login_at: null }
    useAuthStore().keep({ access_token: 'a', token_type: 'Bearer', expires_in: 900, access_expires_at: null, refresh_token: 'r', refresh_expires_at: null, user })
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/policies', name: 'policies', component: { render: () => null } },
        { path: '/policies/:id', name: 'policy', component: PolicyCompliancePage },
        { path: '/deployments/:id', name: 'deployment', component: { render: () => null } },
        { path: '/deployments', name: 'deployments', component: { render: () => null } },
      ],
    })
    await router.push('/policies/p-web')
    const wrapper = mount(PolicyCompliancePage, { global: { plugins: [pinia, router, createConsoleI18n()] }, attachTo: document.body })
    mounted = wrapper
    return wrapper
  }

  function rows(wrapper: Awaited<ReturnType<typeof mountPage>>) {
    return wrapper.findAll('[data-test="compliance-row"]')
  }

  it('shows each node with what it should have, what it has, and why, failed ones marked', async () => {
    const wrapper = await mountPage()
    await settled()

    expect(rows(wrapper).map((row) => [row.attributes('data-host'), row.attributes('data-state')])).toEqual([
      ['web-01', 'compliant'],
      ['web-02', 'failed'],
    ])
    const failed = rows(wrapper)[1]!
    expect(failed.classes()).toContain('compliance-row--failed')
    expect(failed.text()).toContain('1.22.1-1')
    expect(failed.text()).toContain('dpkg: dependency problems')
    expect(failed.find('[data-test="compliance-retry"]').text()).toMatch(/^2 failures in a row · next attempt after \d/)
    expect(failed.find('[data-test="compliance-deployment"]').attributes('href')).toBe('/deployments/d-123456789')
    expect(wrapper.text()).toContain('Group: web')
    expect(wrapper.text()).toContain('25% a batch · at most 1 failed node')
    expect(wrapper.find('[data-test="policy-edit"]').exists()).toBe(false)
  })

  it('changes a row as soon as the stream says the node changed', async () => {
    const wrapper = await mountPage()
    await settled()
    expect(wrapper.text()).toContain('Live')

    const change = node('web-02', { state: 'converging', message: 'deployment d-2 under way', checked_at: at(30) })
    const event = JSON.stringify({ sequence: 7, time: at(30), policy_id: 'p-web', compliance: change })
    stream.enqueue(new TextEncoder().encode(`id: 7\nevent: compliance\ndata: ${event}\n\n`))
    await settled()

    expect(rows(wrapper)[1]?.attributes('data-state')).toBe('converging')
    expect(rows(wrapper)[1]?.text()).toContain('deployment d-2 under way')
  })

  it('asks nothing more once the page is left, also when the stream reports closing after that', async () => {
    // Date too: debounced handlers inside Element Plus measure time with it and re-arm until it moves.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
    const wrapper = await mountPage()
    await settled()
    await vi.advanceTimersByTimeAsync(3000)
    expect(wrapper.text()).toContain('Live')
    const before = gateway.history.get.length

    wrapper.unmount()
    mounted = null
    await settled()
    await vi.advanceTimersByTimeAsync(60_000)
    await settled()

    expect(gateway.history.get.length).toBe(before)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('reads the counts again every 2 s while changes keep coming, not only once they stop', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    const wrapper = await mountPage()
    await settled()
    await vi.advanceTimersByTimeAsync(3000)
    const before = complianceReads()

    for (let second = 10; second < 20; second += 1) {
      send(node('web-02', { state: 'converging', checked_at: at(second) }), second)
      await vi.advanceTimersByTimeAsync(500)
    }

    expect(complianceReads() - before).toBe(2)
    expect(rows(wrapper)[1]?.attributes('data-state')).toBe('converging')
  })

  it('shows the counts of the newest reading when an older reply arrives last', async () => {
    let release: (reply: [number, unknown]) => void = () => undefined
    const slow = new Promise<[number, unknown]>((resolve) => (release = resolve))
    const reading = (failed: number, total: number) => ({
      items: [node('web-02', { state: 'failed' })],
      next_page_token: '',
      counts: { total, compliant: total - failed, drifted: 0, converging: 0, failed, incompatible: 0 },
    })
    gateway.resetHandlers()
    gateway.onGet('/api/v1/policies/p-web').reply(200, policy)
    gateway.onGet('/api/v1/groups/g-web').reply(200, { id: 'g-web', name: 'web' })
    gateway
      .onGet('/api/v1/policies/p-web/compliance')
      .reply((config) => (config.params?.state === 'failed' ? [200, reading(3, 5)] : slow))
    const wrapper = await mountPage()
    await settled()

    await wrapper.find('[data-test="compliance-filter"] [data-value="failed"] input').setValue(true)
    await settled()
    release([200, reading(1, 2)])
    await settled()

    const filter = wrapper.find('[data-test="compliance-filter"]')
    expect(filter.find('[data-value="failed"]').text()).toBe('Failed 3')
    expect(filter.text()).toContain('All 5')
  })
})
