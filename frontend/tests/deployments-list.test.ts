import { flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter, type Router } from 'vue-router'

import { http } from '@/api/client'
import DeploymentsPage from '@/features/deployments/DeploymentsPage.vue'
import { endDayOf, filtersOf, listQuery, queryWith, sinceOf, untilOf } from '@/features/deployments/listFilters'
import { createConsoleI18n } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

import { deployment, settled } from './deployments-fixtures'

const SINCE = '2026-11-27T16:00:00.000Z'

describe('the list filters in the address', () => {
  it('reads the links of the overview and of a policy, and leaves out what is no filter', () => {
    expect(filtersOf({ state: 'failed', since: SINCE })).toMatchObject({ state: 'failed', since: SINCE, policyId: '' })
    expect(filtersOf({ policy_id: 'p1' }).policyId).toBe('p1')
    expect(filtersOf({ state: 'exploded', since: 'yesterday', software_name: [' hello ', 'x'] })).toMatchObject({
      state: '',
      since: '',
      software: 'hello',
    })
  })

  it('asks the API with the same names and keeps other parameters of the address', () => {
    const filters = filtersOf({ state: 'running', policy_id: 'p1', tab: 'x' })
    expect(listQuery(filters, 't2', 20)).toEqual({
      page_token: 't2',
      page_size: 20,
      state: 'running',
      policy_id: 'p1',
      software_name: undefined,
      created_by: undefined,
      since: undefined,
      until: undefined,
    })
    expect(queryWith({ tab: 'schedules', state: 'running', policy_id: 'p1' }, { ...filters, policyId: '', createdBy: 'ops' })).toEqual({
      tab: 'schedules',
      state: 'running',
      created_by: 'ops',
    })
  })

  it('counts the days picked whole, in the browser timezone', () => {
    const day = new Date(2026, 10, 28, 15, 30)
    expect(new Date(sinceOf(day)).getHours()).toBe(0)
    expect(Date.parse(untilOf(day)) - Date.parse(sinceOf(day))).toBe(86_400_000)
    expect(endDayOf(untilOf(day))?.getDate()).toBe(28)
    expect(sinceOf(null)).toBe('')
  })
})

/** Event streams: the first is refused as the test says, the rest stay open. */
function eventStreams(refusal?: number) {
  let calls = 0
  const fetch = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
    calls += 1
    if (calls === 1 && refusal) {
      return new Response(JSON.stringify({ error: { code: 'permission_denied', message: 'no events for you' } }), { status: refusal })
    }
    let controller!: ReadableStreamDefaultController<Uint8Array>
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) })
    init?.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')))
    return new Response(body, { status: 200 })
  })
  return fetch
}

describe('the deployments page', { timeout: 20_000 }, () => {
  let gateway: MockAdapter
  let asked: Record<string, unknown>[]

  beforeEach(() => {
    gateway = new MockAdapter(http)
    asked = []
    gateway.onGet('/api/v1/deployments').reply((config) => {
      asked.push({ ...config.params })
      return [200, { items: [deployment({ state: 'failed' })], next_page_token: '', total: 1 }]
    })
    gateway.onGet('/api/v1/policies/p1').reply(200, { id: 'p1', name: 'nginx-baseline' })
    gateway.onGet('/api/v1/schedules').reply(200, { items: [], next_page_token: '' })
  })
  afterEach(() => {
    gateway.restore()
    vi.unstubAllGlobals()
  })

  async function open(path: string, refusal?: number): Promise<{ wrapper: ReturnType<typeof mount>; router: Router }> {
    vi.stubGlobal('fetch', eventStreams(refusal))
    localStorage.setItem('convoy.locale', 'en')
    const pinia = createPinia()
    setActivePinia(pinia)
    const user = { id: 'u1', username: 'ops', display_name: 'Ops', role: 'operator' as const, disabled: false, created_at: null, updated_at: null, last_login_at: null }
    useAuthStore().keep({ access_token: 'a1', token_type: 'Bearer', expires_in: 900, access_expires_at: null, refresh_token: 'r1', refresh_expires_at: null, user })
    const router = createRouter({
      history: createMemoryHistory(),
      routes: [
        { path: '/deployments', name: 'deployments', component: DeploymentsPage },
        { path: '/deployments/new', name: 'deployment-new', component: { template: '<div />' } },
        { path: '/deployments/:id', name: 'deployment', component: { template: '<div />' } },
      ],
    })
    await router.push(path)
    const wrapper = mount({ template: '<router-view />' }, { global: { plugins: [pinia, router, createConsoleI18n()] } })
    await settled()
    await flushPromises()
    return { wrapper, router }
  }

  it('opens filtered as the link says, shows the policy by name, and drops a filter closed', async () => {
    const { wrapper, router } = await open(`/deployments?state=failed&since=${SINCE}&policy_id=p1`)
    expect(asked.at(-1)).toMatchObject({ state: 'failed', since: SINCE, policy_id: 'p1' })
    const chip = wrapper.get('[data-test="deployments-policy-filter"]')
    expect(chip.text()).toContain('nginx-baseline')

    await chip.get('.el-tag__close').trigger('click')
    await settled()
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ state: 'failed', since: SINCE })
    expect(asked.at(-1)).toMatchObject({ state: 'failed', since: SINCE })
    expect(asked.at(-1)?.policy_id).toBeUndefined()
    wrapper.unmount()
  })

  it('keeps the filters when switching to the schedules and back', async () => {
    const { wrapper, router } = await open('/deployments?state=running')
    await wrapper.get('#tab-schedules').trigger('click')
    await settled()
    expect(router.currentRoute.value.query).toEqual({ state: 'running', tab: 'schedules' })
    await wrapper.get('#tab-deployments').trigger('click')
    await settled()
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ state: 'running' })
    expect(asked.at(-1)).toMatchObject({ state: 'running' })
    wrapper.unmount()
  })

  it('says when live updates stopped, and reloads the list and follows it again on request', async () => {
    const { wrapper } = await open('/deployments', 403)
    const alert = wrapper.get('[data-test="deployments-live-stopped"]')
    expect(alert.text()).toContain('no events for you')
    const reads = asked.length

    await alert.get('button').trigger('click')
    await settled()
    await flushPromises()
    expect(asked.length).toBe(reads + 1)
    expect(wrapper.find('[data-test="deployments-live-stopped"]').exists()).toBe(false)
    wrapper.unmount()
  })
})
