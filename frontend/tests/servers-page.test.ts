import { DOMWrapper, flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import type { Role } from '@/api/auth'
import { http } from '@/api/client'
import type { Server } from '@/api/servers'
import ServerDrawer from '@/features/servers/ServerDrawer.vue'
import ServersPage from '@/features/servers/ServersPage.vue'
import ServerFilterBar from '@/features/servers/ServerFilterBar.vue'
import { emptyFilters } from '@/features/servers/serverFilters'
import { createConsoleI18n } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

function server(id: string, hostname: string, status: Server['status'] = 'online'): Server {
  return {
    id,
    hostname,
    ip_address: '192.0.2.1',
    category: 'web',
    labels: { env: 'prod' },
    os: {
      os_id: 'kylin',
      id_like: [],
      version_id: 'V10',
      pretty_name: 'Kylin Linux Advanced Server V10',
      package_family: 'rpm',
      arch: 'aarch64',
      kernel: '4.19.90',
    },
    agent_version: '0.4.0',
    status,
    last_seen: '2026-11-28T07:00:00Z',
    created_at: '2026-11-28T06:00:00Z',
    updated_at: null,
    group_ids: ['g-1'],
  }
}

let gateway: MockAdapter

function signIn(role: Role) {
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
    user: { id: 'u1', username: role, display_name: '', role, disabled: false, created_at: null, updated_at: null, last_login_at: null },
  })
  return pinia
}

const stubs = { transition: false, 'transition-group': false }

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
}

async function mountPage(role: Role, path = '/servers') {
  const pinia = signIn(role)
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/servers', name: 'servers', component: ServersPage }] })
  await router.push(path)
  const wrapper = mount(ServersPage, { global: { plugins: [pinia, router, createConsoleI18n()], stubs }, attachTo: document.body })
  await settled()
  return { wrapper, router }
}

function listRequests() {
  return gateway.history.get.filter((request) => request.url === '/api/v1/servers')
}

function mountDrawer(role: Role, shown: Server) {
  const pinia = signIn(role)
  return mount(ServerDrawer, {
    props: { modelValue: true, server: shown },
    global: { plugins: [pinia, createConsoleI18n()], stubs },
    attachTo: document.body,
  })
}

function body(selector: string): DOMWrapper<Element> {
  return new DOMWrapper(document.body).find(selector)
}

beforeEach(() => {
  gateway = new MockAdapter(http)
  gateway.onGet('/api/v1/servers').reply(200, { items: [server('s-1', 'web-1'), server('s-2', 'db-1', 'offline')], next_page_token: '', total: 2 })
  gateway.onGet('/api/v1/groups/g-1').reply(200, { id: 'g-1', name: 'web-prod' })
  gateway.onGet(/\/software$/).reply(200, { items: [], next_page_token: '' })
  gateway.onGet('/api/v1/deployments').reply(200, { items: [], next_page_token: '', total: 0 })
})

afterEach(() => {
  gateway.restore()
  document.body.innerHTML = ''
  localStorage.clear()
})

describe('the servers page', () => {
  it('lists servers with their status kept as a raw value', async () => {
    const { wrapper } = await mountPage('viewer')
    const row = wrapper.find('[data-test="server-row"][data-host="db-1"]')
    expect(row.exists()).toBe(true)
    expect(row.find('[data-state]').attributes('data-state')).toBe('offline')
    expect(row.text()).toContain('Offline')
  })

  it('offers "Add server" to operators and not to viewers', async () => {
    expect((await mountPage('operator')).wrapper.find('[data-test="servers-add"]').exists()).toBe(true)
    document.body.innerHTML = ''
    expect((await mountPage('viewer')).wrapper.find('[data-test="servers-add"]').exists()).toBe(false)
  })

  it('asks the API for the filters in the address', async () => {
    await mountPage('viewer', '/servers?status=offline&os_family=deb&label=env%3Dprod&bogus=1')
    expect(gateway.history.get[0]?.params).toEqual({ status: 'offline', os_family: 'deb', label: 'env=prod', page_token: '', page_size: 50 })
  })

  it('says when no server matches the filters', async () => {
    gateway.onGet('/api/v1/servers').reply(200, { items: [], next_page_token: '', total: 0 })
    const { wrapper } = await mountPage('operator', '/servers?q=nothing')
    expect(wrapper.text()).toContain('No server matches')
  })

  it('shows the whole fleet again when the menu entry clears the filters from the address', async () => {
    const { wrapper, router } = await mountPage('viewer', '/servers?status=offline')
    await router.push('/servers')
    await settled()
    expect(listRequests().map((request) => request.params)).toEqual([
      { status: 'offline', page_token: '', page_size: 50 },
      { page_token: '', page_size: 50 },
    ])
    expect(wrapper.findComponent(ServerFilterBar).props('modelValue')).toMatchObject({ status: '' })
  })

  it('follows back and forward between filtered lists', async () => {
    const { router } = await mountPage('viewer', '/servers?status=offline')
    await router.push('/servers?category=web')
    await settled()
    expect(listRequests().at(-1)?.params).toEqual({ category: 'web', page_token: '', page_size: 50 })
  })

  it('loads once when its own filters are applied, and writes them to the address', async () => {
    const { wrapper, router } = await mountPage('viewer')
    const bar = wrapper.findComponent(ServerFilterBar)
    bar.vm.$emit('update:modelValue', { ...emptyFilters(), osFamily: 'deb' })
    bar.vm.$emit('apply')
    await settled()
    expect(listRequests()).toHaveLength(2)
    expect(listRequests()[1]?.params).toEqual({ os_family: 'deb', page_token: '', page_size: 50 })
    expect(router.currentRoute.value.query).toEqual({ os_family: 'deb' })
  })
})

describe('the server drawer', () => {
  it('shows the facts and the names of the server’s groups', async () => {
    mountDrawer('viewer', server('s-1', 'web-1'))
    await settled()
    const drawer = body('[data-test="server-drawer"]')
    expect(drawer.text()).toContain('Kylin Linux Advanced Server V10')
    expect(drawer.text()).toContain('aarch64')
    expect(body('[data-test="server-groups"]').text()).toContain('web-prod')
  })

  it('shows Revoke to operators, not to viewers, and not for a server already revoked', async () => {
    mountDrawer('operator', server('s-1', 'web-1'))
    await settled()
    expect(body('[data-test="server-revoke"]').exists()).toBe(true)
    document.body.innerHTML = ''
    mountDrawer('viewer', server('s-1', 'web-1'))
    await settled()
    expect(body('[data-test="server-revoke"]').exists()).toBe(false)
    document.body.innerHTML = ''
    mountDrawer('admin', server('s-1', 'web-1', 'revoked'))
    await settled()
    expect(body('[data-test="server-revoke"]').exists()).toBe(false)
  })

  it('shows how each recent deployment went on this server', async () => {
    gateway.onGet('/api/v1/deployments').reply(200, {
      items: [{ id: 'd-1', software_name: 'nginx', version: '1.24', action: 'install', state: 'failed', created_by: 'ops', created_at: null }],
      next_page_token: '',
      total: 1,
    })
    gateway.onGet('/api/v1/deployments/d-1/targets').reply(200, {
      items: [{ server_id: 's-1', state: 'failed', message: 'dpkg: error' }],
      next_page_token: '',
      total: 1,
    })
    mountDrawer('viewer', server('s-1', 'web-1'))
    await settled()
    const deployments = body('[data-test="server-deployments"]')
    expect(deployments.text()).toContain('Install nginx 1.24')
    expect(deployments.find('[title="dpkg: error"]').attributes('data-state')).toBe('failed')
    const asked = gateway.history.get.find((request) => request.url === '/api/v1/deployments')
    expect(asked?.params).toEqual({ server_id: 's-1', page_size: 5 })
  })

  it('asks for this server’s own row by id, so a server without a hostname finds it too', async () => {
    gateway.onGet('/api/v1/deployments').reply(200, {
      items: [{ id: 'd-1', software_name: 'nginx', version: '1.24', action: 'install', state: 'running', created_by: 'ops', created_at: null }],
      next_page_token: '',
      total: 1,
    })
    gateway.onGet('/api/v1/deployments/d-1/targets').reply(200, {
      items: [{ server_id: 's-1', state: 'installing', message: 'unpacking' }],
      next_page_token: '',
      total: 1,
    })
    mountDrawer('viewer', { ...server('s-1', ''), ip_address: '192.0.2.9' })
    await settled()
    expect(body('[data-test="server-drawer"]').text()).toContain('192.0.2.9')
    expect(body('[data-test="server-deployments"] [title="unpacking"]').attributes('data-state')).toBe('installing')
    const asked = gateway.history.get.find((request) => request.url === '/api/v1/deployments/d-1/targets')
    expect(asked?.params).toEqual({ server_id: 's-1', page_size: 1 })
  })

  it('never shows another node’s state as this server’s', async () => {
    gateway.onGet('/api/v1/deployments').reply(200, {
      items: [{ id: 'd-1', software_name: 'nginx', version: '1.24', action: 'install', state: 'running', created_by: 'ops', created_at: null }],
      next_page_token: '',
      total: 1,
    })
    gateway.onGet('/api/v1/deployments/d-1/targets').reply(200, {
      items: [{ server_id: 's-other', state: 'succeeded', message: 'elsewhere' }],
      next_page_token: '',
      total: 3,
    })
    mountDrawer('viewer', server('s-1', 'web-1'))
    await settled()
    expect(body('[data-test="server-deployments"]').text()).toContain('Install nginx 1.24')
    expect(body('[data-test="server-deployments"] [title="elsewhere"]').exists()).toBe(false)
  })
})
