import { DOMWrapper, flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import type { Role } from '@/api/auth'
import { http } from '@/api/client'
import type { Group } from '@/api/groups'
import type { Server } from '@/api/servers'
import GroupFormDialog from '@/features/groups/GroupFormDialog.vue'
import GroupsPage from '@/features/groups/GroupsPage.vue'
import MembersDialog from '@/features/groups/MembersDialog.vue'
import ServerPicker from '@/features/groups/ServerPicker.vue'
import { createConsoleI18n } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

const demo: Group = {
  id: 'g-1',
  name: 'demo',
  description: 'Demo nodes',
  category: 'general',
  maintenance_window: { cron: '0 2 * * sat', duration_seconds: 7200, timezone: 'Asia/Shanghai' },
  member_count: 1,
  created_at: null,
  updated_at: null,
}

function member(id: string, hostname: string): Server {
  return {
    id,
    hostname,
    ip_address: '192.0.2.1',
    category: 'general',
    labels: {},
    os: { os_id: '', id_like: [], version_id: '', pretty_name: '', package_family: null, arch: '', kernel: '' },
    agent_version: '',
    status: 'online',
    last_seen: null,
    created_at: null,
    updated_at: null,
    group_ids: ['g-1'],
  }
}

let gateway: MockAdapter
const stubs = { transition: false, 'transition-group': false }

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

function global(role: Role) {
  const routes = [
    { path: '/servers', name: 'servers', component: {} },
    { path: '/:rest(.*)*', component: {} },
  ]
  const router = createRouter({ history: createMemoryHistory(), routes })
  return { plugins: [signIn(role), createConsoleI18n(), router], stubs }
}

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
}

function body(): DOMWrapper<Element> {
  return new DOMWrapper(document.body)
}

beforeEach(() => {
  gateway = new MockAdapter(http)
  gateway.onGet('/api/v1/groups').reply(200, { items: [demo], next_page_token: '', total: 1 })
  gateway.onGet('/api/v1/groups/g-1/members').reply(200, { items: [member('s-1', 'demo-deb-1')], next_page_token: '', total: 1 })
})

afterEach(() => {
  gateway.restore()
  document.body.innerHTML = ''
  localStorage.clear()
})

describe('the groups page', () => {
  it('shows each group with its category and a readable window', async () => {
    const wrapper = mount(GroupsPage, { global: global('viewer'), attachTo: document.body })
    await settled()
    const row = wrapper.find('[data-test="group-row"][data-name="demo"]')
    expect(row.text()).toContain('0 2 * * sat')
    expect(row.text()).toContain('2 h · Asia/Shanghai')
    expect(row.text()).toContain('General')
    expect(row.find('[data-test="group-servers"]').attributes('href')).toBe('/servers?group_id=g-1')
  })

  it('lets viewers see members but offers them no changes', async () => {
    const wrapper = mount(GroupsPage, { global: global('viewer'), attachTo: document.body })
    await settled()
    const row = wrapper.find('[data-test="group-row"][data-name="demo"]')
    expect(row.find('[data-test="group-members"]').exists()).toBe(true)
    for (const name of ['group-edit', 'group-delete']) expect(row.find(`[data-test="${name}"]`).exists()).toBe(false)
    expect(wrapper.find('[data-test="groups-create"]').exists()).toBe(false)
  })

  it('gives operators create, edit and delete', async () => {
    const wrapper = mount(GroupsPage, { global: global('operator'), attachTo: document.body })
    await settled()
    const row = wrapper.find('[data-test="group-row"][data-name="demo"]')
    expect(row.find('[data-test="group-edit"]').exists()).toBe(true)
    expect(row.find('[data-test="group-delete"]').exists()).toBe(true)
    expect(wrapper.find('[data-test="groups-create"]').exists()).toBe(true)
  })
})

describe('the group dialog', () => {
  it('shows the inventory’s refusal as it says it', async () => {
    gateway.onPost('/api/v1/groups').reply(409, { error: { code: 'already_exists', message: "a group named 'demo' already exists", request_id: 'r' } })
    const wrapper = mount(GroupFormDialog, { props: { modelValue: false, group: null }, global: global('operator'), attachTo: document.body })
    await wrapper.setProps({ modelValue: true })
    await settled()
    await body().find('input[data-test="group-name"]').setValue('demo')
    await body().find('[data-test="group-save"]').trigger('click')
    await settled()
    expect(body().find('[data-test="group-error"]').text()).toContain("a group named 'demo' already exists")
    expect(JSON.parse(gateway.history.post[0]?.data as string)).toMatchObject({ name: 'demo', maintenance_window: null })
  })
})

describe('the members dialog', () => {
  async function openMembers(role: Role) {
    const wrapper = mount(MembersDialog, { props: { modelValue: false, group: demo }, global: global(role), attachTo: document.body })
    await wrapper.setProps({ modelValue: true })
    await settled()
    return wrapper
  }

  it('lists the members, with remove for operators only', async () => {
    await openMembers('viewer')
    expect(body().find('[data-test="member-row"][data-host="demo-deb-1"]').exists()).toBe(true)
    expect(body().find('[data-test="member-remove"]').exists()).toBe(false)
    expect(body().find('[data-test="members-search"]').exists()).toBe(false)
    document.body.innerHTML = ''
    await openMembers('operator')
    expect(body().find('[data-test="member-row"] [data-test="member-remove"]').exists()).toBe(true)
  })

  it('adds all chosen servers with one request and says how many were added', async () => {
    gateway.onPost('/api/v1/groups/g-1/members').reply(200, { added: 2 })
    const wrapper = await openMembers('operator')
    wrapper.findComponent(ServerPicker).vm.$emit('update:modelValue', ['s-2', 's-3'])
    await settled()
    await body().find('[data-test="members-add"]').trigger('click')
    await settled()
    expect(gateway.history.post).toHaveLength(1)
    expect(JSON.parse(gateway.history.post[0]?.data as string)).toEqual({ server_ids: ['s-2', 's-3'] })
    expect(document.body.textContent).toContain('Added 2 server(s)')
    expect(wrapper.emitted('changed')).toHaveLength(1)
  })

  it('searches servers as the user types, a page at a time', async () => {
    gateway.onGet('/api/v1/servers').reply(200, { items: [member('s-9', 'web-9')], next_page_token: 'n', total: 10000 })
    const wrapper = await openMembers('operator')
    const picker = wrapper.findComponent({ name: 'ElSelect' })
    const search = picker.props('remoteMethod') as (query: string) => Promise<void>
    await search(' web ')
    expect(gateway.history.get.find((request) => request.url === '/api/v1/servers')?.params).toEqual({ q: 'web', page_size: 20 })
  })
})
