import { flushPromises, mount, type VueWrapper } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { http } from '@/api/client'
import type { Group } from '@/api/groups'
import type { Server } from '@/api/servers'
import GroupPicker from '@/features/groups/GroupPicker.vue'
import ServerPicker from '@/features/groups/ServerPicker.vue'
import { createConsoleI18n } from '@/i18n'

function server(id: string, hostname: string): Server {
  return {
    id,
    hostname,
    ip_address: '192.0.2.10',
    category: 'general',
    labels: {},
    os: { os_id: '', id_like: [], version_id: '', pretty_name: '', package_family: null, arch: '', kernel: '' },
    agent_version: '',
    status: 'online',
    last_seen: null,
    created_at: null,
    updated_at: null,
    group_ids: [],
  }
}

function group(id: string, name: string): Group {
  return { id, name, description: '', category: null, maintenance_window: null, member_count: 0, created_at: null, updated_at: null }
}

/** A reply the test releases when it wants, to make replies arrive out of order. */
function held(): { release: (data: unknown) => void; handler: () => Promise<[number, unknown]> } {
  let release: (data: unknown) => void = () => undefined
  const reply = new Promise<[number, unknown]>((resolve) => {
    release = (data) => resolve([200, data])
  })
  return { release, handler: () => reply }
}

let gateway: MockAdapter
const stubs = { transition: false, 'transition-group': false }

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
}

function mountPicker(component: typeof ServerPicker | typeof GroupPicker, props: { modelValue: string | string[]; multiple?: boolean }) {
  localStorage.setItem('convoy.locale', 'en')
  return mount(component, { props, global: { plugins: [createConsoleI18n()], stubs }, attachTo: document.body })
}

function search(wrapper: VueWrapper): (query: string) => Promise<void> {
  return wrapper.findComponent({ name: 'ElSelect' }).props('remoteMethod') as (query: string) => Promise<void>
}

function labels(wrapper: VueWrapper): string[] {
  return wrapper.findAllComponents({ name: 'ElOption' }).map((option) => String(option.props('label')))
}

beforeEach(() => {
  gateway = new MockAdapter(http)
})

afterEach(() => {
  gateway.restore()
  document.body.innerHTML = ''
  localStorage.clear()
})

describe('the server picker', () => {
  it('shows the newest search, even when an older reply arrives after it', async () => {
    const slow = held()
    gateway.onGet('/api/v1/servers', { params: { q: 'w', page_size: 20 } }).reply(slow.handler)
    gateway.onGet('/api/v1/servers', { params: { q: 'web-2', page_size: 20 } }).reply(200, { items: [server('s-2', 'web-2')] })
    const wrapper = mountPicker(ServerPicker, { modelValue: [] })
    const first = search(wrapper)('w')
    await search(wrapper)('web-2')
    slow.release({ items: [server('s-1', 'web-1'), server('s-2', 'web-2')] })
    await first
    await settled()
    expect(labels(wrapper)).toEqual(['web-2 (192.0.2.10)'])
  })

  it('chooses one server when not multiple, and clearing leaves no server', async () => {
    gateway.onGet('/api/v1/servers').reply(200, { items: [server('s-1', 'web-1')] })
    const wrapper = mountPicker(ServerPicker, { modelValue: '', multiple: false })
    await search(wrapper)('web')
    await settled()
    const select = wrapper.findComponent({ name: 'ElSelect' })
    expect(select.props('multiple')).toBe(false)
    select.vm.$emit('update:modelValue', 's-1')
    expect(wrapper.emitted('update:modelValue')?.at(-1)).toEqual(['s-1'])
    await wrapper.setProps({ modelValue: 's-1' })
    await select.trigger('mouseenter')
    await select.find('.el-select__clear').trigger('click')
    expect(wrapper.emitted('update:modelValue')?.at(-1)).toEqual([''])
  })

  it('names a server chosen before the picker opened, not by its id', async () => {
    gateway.onGet('/api/v1/servers/s-7').reply(200, server('s-7', 'db-7'))
    const wrapper = mountPicker(ServerPicker, { modelValue: 's-7', multiple: false })
    await settled()
    expect(labels(wrapper)).toEqual(['db-7 (192.0.2.10)'])
  })

  it('names a server without a hostname by its address', async () => {
    gateway.onGet('/api/v1/servers').reply(200, { items: [server('s-3', '')] })
    const wrapper = mountPicker(ServerPicker, { modelValue: [] })
    await search(wrapper)('192')
    await settled()
    expect(labels(wrapper)).toEqual(['192.0.2.10'])
  })
})

describe('the group picker', () => {
  it('shows the newest search, even when an older reply arrives after it', async () => {
    const slow = held()
    gateway.onGet('/api/v1/groups', { params: { q: 'd', page_size: 20 } }).reply(slow.handler)
    gateway.onGet('/api/v1/groups', { params: { q: 'demo', page_size: 20 } }).reply(200, { items: [group('g-1', 'demo')] })
    const wrapper = mountPicker(GroupPicker, { modelValue: '' })
    const first = search(wrapper)('d')
    await search(wrapper)('demo')
    slow.release({ items: [group('g-2', 'dev'), group('g-1', 'demo')] })
    await first
    await settled()
    expect(labels(wrapper)).toEqual(['demo'])
  })

  it('keeps the spinner of the newest search, not of an older one that ended', async () => {
    const slow = held()
    gateway.onGet('/api/v1/groups', { params: { q: 'd', page_size: 20 } }).reply(200, { items: [] })
    gateway.onGet('/api/v1/groups', { params: { q: 'demo', page_size: 20 } }).reply(slow.handler)
    const wrapper = mountPicker(GroupPicker, { modelValue: [], multiple: true })
    const older = search(wrapper)('d')
    const newer = search(wrapper)('demo')
    await older
    expect(wrapper.findComponent({ name: 'ElSelect' }).props('loading')).toBe(true)
    slow.release({ items: [group('g-1', 'demo')] })
    await newer
    await settled()
    expect(wrapper.findComponent({ name: 'ElSelect' }).props('loading')).toBe(false)
  })
})
