import { DOMWrapper, flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import type { Role, User } from '@/api/auth'
import { http } from '@/api/client'
import type { ComplianceCounts, Policy } from '@/api/policies'
import PoliciesPage from '@/features/policies/PoliciesPage.vue'
import PolicyDialog from '@/features/policies/PolicyDialog.vue'
import GroupPicker from '@/features/groups/GroupPicker.vue'
import ServerPicker from '@/features/groups/ServerPicker.vue'
import { createConsoleI18n } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

const CONFLICT =
  "policy 'nginx on web' (5f0c) wants nginx present at 1.24.0-1 on nodes this one covers (e.g. web-03), " +
  'and this one wants it present at latest; narrow a target, align the versions or disable one of them'

function policy(id: string, name: string, overrides: Partial<Policy> = {}): Policy {
  return {
    id,
    name,
    target: { server_id: null, group_id: 'g-web', all: null, selector: null },
    software_name: 'nginx',
    version: 'latest',
    state: 'present',
    strategy: {
      batch_size: 0,
      batch_percent: 0,
      max_failures: 0,
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
    ...overrides,
  }
}

function counts(compliant: number, drifted: number): ComplianceCounts {
  return { total: compliant + drifted, compliant, drifted, converging: 0, failed: 0, incompatible: 0 }
}

const web = policy('p-web', 'nginx on web')
const old = policy('p-old', 'nginx pinned', { version: '1.22.1-1', enabled: false, mode: 'report' })

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
  await new Promise((resolve) => setTimeout(resolve, 150))
}

async function signIn(role: Role) {
  localStorage.setItem('convoy.locale', 'en')
  const pinia = createPinia()
  setActivePinia(pinia)
  const user: User = {
    id: 'u1',
    username: 'ops',
    display_name: 'Ops',
    role,
    disabled: false,
    created_at: null,
    updated_at: null,
    last_login_at: null,
  }
  const tokens = { access_token: 'a', token_type: 'Bearer', expires_in: 900, access_expires_at: null }
  useAuthStore().keep({ ...tokens, refresh_token: 'r', refresh_expires_at: null, user })
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/policies', name: 'policies', component: PoliciesPage },
      { path: '/policies/:id', name: 'policy', component: { render: () => null } },
    ],
  })
  await router.push('/policies')
  return { global: { plugins: [pinia, router, createConsoleI18n()], stubs: { transition: false, 'transition-group': false } } }
}

async function mountPage(role: Role = 'operator') {
  return mount(PoliciesPage, { ...(await signIn(role)), attachTo: document.body })
}

function inBody(selector: string): DOMWrapper<HTMLElement> {
  return new DOMWrapper(document.body).find(selector)
}

function row(wrapper: Awaited<ReturnType<typeof mountPage>>, name: string) {
  return wrapper.find(`[data-test="policy-row"][data-name="${name}"]`)
}

function messageBoxButton(text: string): HTMLButtonElement | undefined {
  return [...document.querySelectorAll<HTMLButtonElement>('.el-message-box button')].find(
    (button) => button.textContent?.trim() === text,
  )
}

describe('the sync policies page', () => {
  let gateway: MockAdapter

  beforeEach(() => {
    gateway = new MockAdapter(http)
    gateway.onGet('/api/v1/policies').reply(200, { items: [web, old], next_page_token: '', total: 2 })
    gateway.onGet('/api/v1/groups/g-web').reply(200, { id: 'g-web', name: 'web' })
    gateway.onGet('/api/v1/compliance').reply(200, {
      policies: [{ policy_id: 'p-web', policy_name: web.name, software_name: 'nginx', mode: 'enforce', enabled: true, counts: counts(3, 1), checked_at: null }],
      total: counts(3, 1),
      groups: [],
    })
  })
  afterEach(() => {
    gateway.restore()
    document.body.innerHTML = ''
  })

  it('lists each policy with its target, version, mode and compliance', async () => {
    const wrapper = await mountPage()
    await settled()

    const first = row(wrapper, 'nginx on web')
    expect(first.text()).toContain('Group: web')
    expect(first.text()).toContain('Latest')
    expect(first.text()).toContain('Enforce')
    expect(first.text()).toContain('3/4 compliant')
    expect(first.find('[data-state="drifted"]').attributes('style')).toBe('width: 25%;')
    const second = row(wrapper, 'nginx pinned')
    expect(second.text()).toContain('1.22.1-1')
    expect(second.text()).toContain('Report only')
    expect(second.find('[data-test="policy-enabled"]').attributes('data-state')).toBe('disabled')
  })

  it('shows a viewer no button that changes anything', async () => {
    const wrapper = await mountPage('viewer')
    await settled()

    expect(row(wrapper, 'nginx on web').exists()).toBe(true)
    for (const name of ['policies-create', 'policy-edit', 'policy-delete', 'policy-enabled']) {
      expect(wrapper.find(`[data-test="${name}"]`).exists()).toBe(false)
    }
  })

  it('disables a policy with its switch', async () => {
    gateway.onPatch('/api/v1/policies/p-web').reply(200, { ...web, enabled: false })
    const wrapper = await mountPage()
    await settled()

    await row(wrapper, 'nginx on web').find('[data-test="policy-enabled"]').trigger('click')
    await settled()

    expect(JSON.parse(gateway.history.patch[0]?.data)).toEqual({ enabled: false })
    expect(row(wrapper, 'nginx on web').find('[data-test="policy-enabled"]').attributes('data-state')).toBe('disabled')
  })

  it('shows the gateway naming the other policy when enabling one contradicts it', async () => {
    gateway.onPatch('/api/v1/policies/p-old').reply(409, { error: { code: 'failed_precondition', message: CONFLICT } })
    const wrapper = await mountPage()
    await settled()

    await row(wrapper, 'nginx pinned').find('[data-test="policy-enabled"]').trigger('click')
    await settled()

    expect(inBody('.el-message-box').text()).toContain(CONFLICT)
    expect(inBody('.el-message-box').text()).toContain('Could not enable "nginx pinned"')
    expect(row(wrapper, 'nginx pinned').find('[data-test="policy-enabled"]').attributes('data-state')).toBe('disabled')
  })

  it('deletes a policy only after confirmation', async () => {
    gateway.onDelete('/api/v1/policies/p-old').reply(204)
    const wrapper = await mountPage()
    await settled()

    await row(wrapper, 'nginx pinned').find('[data-test="policy-delete"]').trigger('click')
    await settled()
    expect(inBody('.el-message-box').text()).toContain('Delete sync policy "nginx pinned"?')
    expect(gateway.history.delete).toHaveLength(0)

    messageBoxButton('Delete')?.click()
    await settled()
    expect(gateway.history.delete.map((request) => request.url)).toEqual(['/api/v1/policies/p-old'])
  })

  it('names the groups and servers of the policies shown, each read once by its id', async () => {
    const pinned = policy('p-one', 'nginx on web-01', { target: { server_id: 's-1' } })
    gateway.onGet('/api/v1/policies').reply(200, { items: [web, old, pinned], next_page_token: '', total: 3 })
    gateway.onGet('/api/v1/servers/s-1').reply(200, { id: 's-1', hostname: 'web-01', ip_address: '10.0.0.1' })
    const wrapper = await mountPage()
    await settled()

    expect(row(wrapper, 'nginx pinned').text()).toContain('Group: web')
    expect(row(wrapper, 'nginx on web-01').text()).toContain('Server: web-01')
    const urls = gateway.history.get.map((request) => request.url)
    expect(urls.filter((url) => url === '/api/v1/groups/g-web')).toHaveLength(1)
    expect(urls.filter((url) => url === '/api/v1/servers/s-1')).toHaveLength(1)
    expect(urls).not.toContain('/api/v1/groups')
  })

  it('offers only the pages the cursor can reach, and turns to the next with its token', async () => {
    gateway.onGet('/api/v1/policies').reply((config) =>
      config.params?.page_token === 'p2'
        ? [200, { items: [old], next_page_token: '', total: 500 }]
        : [200, { items: [web], next_page_token: 'p2', total: 500 }],
    )
    const wrapper = await mountPage()
    await settled()

    const pages = () => wrapper.findAll('.el-pager li').map((item) => item.text())
    expect(pages()).toEqual(['1', '2'])
    await wrapper.findAll('.el-pager li')[1]!.trigger('click')
    await settled()

    expect(gateway.history.get.filter((request) => request.url === '/api/v1/policies').at(-1)?.params).toMatchObject({ page_token: 'p2' })
    expect(row(wrapper, 'nginx pinned').exists()).toBe(true)
    expect(pages()).toEqual(['1', '2'])
  })
})

describe('the policy dialog', () => {
  let gateway: MockAdapter

  beforeEach(() => {
    gateway = new MockAdapter(http)
    gateway.onGet('/api/v1/software').reply(200, { items: [], next_page_token: '', total: 0 })
    gateway.onGet(/\/api\/v1\/software\/.*\/versions/).reply(200, { items: [], next_page_token: '' })
  })
  afterEach(() => {
    gateway.restore()
    document.body.innerHTML = ''
  })

  async function openEditor(edited: Policy | null) {
    const wrapper = mount(PolicyDialog, {
      ...(await signIn('operator')),
      props: { modelValue: false, policy: edited },
      attachTo: document.body,
    })
    await wrapper.setProps({ modelValue: true })
    await settled()
    return wrapper
  }

  function optionLabels(wrapper: { findAllComponents: ReturnType<typeof mount>['findAllComponents'] }, dataTest: string): string[] {
    const select = wrapper.findAllComponents({ name: 'ElSelect' }).find((item) => item.attributes('data-test') === dataTest)
    return (select?.findAllComponents({ name: 'ElOption' }) ?? []).map((option) => String(option.props('label')))
  }

  it('creates a policy on a group found by typing part of its name', async () => {
    const demo = { id: 'g-demo', name: 'demo' }
    gateway.onGet('/api/v1/groups').reply(200, { items: [demo], next_page_token: '', total: 1 })
    gateway.onPost('/api/v1/policies').reply(201, policy('p-new', 'fixsync nginx', { target: { group_id: 'g-demo' } }))
    const wrapper = await openEditor(null)

    const picker = wrapper.findComponent(GroupPicker)
    expect(picker.attributes('data-test')).toBe('policy-group')
    const search = picker.findComponent({ name: 'ElSelect' }).props('remoteMethod') as (query: string) => Promise<void>
    await search(' dem ')
    expect(gateway.history.get.find((request) => request.url === '/api/v1/groups')?.params).toEqual({ q: 'dem', page_size: 20 })
    picker.vm.$emit('update:modelValue', 'g-demo')
    await inBody('input[data-test="policy-name"]').setValue('fixsync nginx')
    wrapper.findAllComponents({ name: 'ElSelect' }).find((item) => item.attributes('data-test') === 'policy-software')?.vm.$emit('update:modelValue', 'nginx')
    await settled()
    await inBody('[data-test="policy-save"]').trigger('click')
    await settled()

    expect(JSON.parse(gateway.history.post[0]?.data)).toMatchObject({ name: 'fixsync nginx', target: { group_id: 'g-demo' }, software_name: 'nginx' })
    expect(wrapper.emitted('saved')?.[0]?.[1]).toBe(true)
  })

  it('targets one server found by typing, and names the server of an edited policy', async () => {
    const host = { id: 's-1', hostname: 'web-01', ip_address: '10.0.0.1' }
    gateway.onGet('/api/v1/servers/s-1').reply(200, host)
    gateway.onPatch('/api/v1/policies/p-web').reply(200, policy('p-web', 'nginx on web', { target: { server_id: 's-2' } }))
    const wrapper = await openEditor(policy('p-web', 'nginx on web', { target: { server_id: 's-1' } }))

    const picker = wrapper.findComponent(ServerPicker)
    expect(picker.attributes('data-test')).toBe('policy-server')
    expect(picker.findAllComponents({ name: 'ElOption' }).map((option) => option.props('label'))).toEqual(['web-01 (10.0.0.1)'])
    picker.vm.$emit('update:modelValue', 's-2')
    await inBody('[data-test="policy-save"]').trigger('click')
    await settled()

    expect(JSON.parse(gateway.history.patch[0]?.data)).toEqual({ target: { server_id: 's-2' } })
  })

  it('lists the versions of the policy opened last, whatever order the replies arrive in', async () => {
    let release: (reply: [number, unknown]) => void = () => undefined
    const slow = new Promise<[number, unknown]>((resolve) => (release = resolve))
    const versions = (...list: string[]) => ({ items: list.map((version) => ({ version, release: '' })), next_page_token: '' })
    gateway.resetHandlers()
    gateway.onGet('/api/v1/software').reply(200, { items: [], next_page_token: '', total: 0 })
    gateway.onGet('/api/v1/software/nginx/versions').reply(() => slow)
    gateway.onGet('/api/v1/software/redis/versions').reply(200, versions('7.2.4'))
    const wrapper = await openEditor(web)
    await wrapper.setProps({ modelValue: false })
    await wrapper.setProps({ policy: policy('p-redis', 'redis on web', { software_name: 'redis' }), modelValue: true })
    await settled()
    release([200, versions('1.24.0-1')])
    await settled()

    expect(optionLabels(wrapper, 'policy-version')).toEqual(['Latest (newest that fits)', '7.2.4'])
  })

  it('sends only the changed fields of an edited policy', async () => {
    gateway.onPatch('/api/v1/policies/p-web').reply(200, { ...web, name: 'nginx everywhere' })
    const wrapper = await openEditor(web)

    await inBody('input[data-test="policy-name"]').setValue('nginx everywhere')
    await inBody('[data-test="policy-mode"] [data-value="report"] input').setValue(true)
    await inBody('[data-test="policy-save"]').trigger('click')
    await settled()

    expect(JSON.parse(gateway.history.patch[0]?.data)).toEqual({ name: 'nginx everywhere', mode: 'report' })
    expect(wrapper.emitted('saved')?.[0]?.[1]).toBe(false)
  })

  it("keeps the dialog open with the gateway's message when the change contradicts another policy", async () => {
    gateway.onPatch('/api/v1/policies/p-old').reply(409, { error: { code: 'failed_precondition', message: CONFLICT } })
    const wrapper = await openEditor(old)

    await inBody('[data-test="policy-form-enabled"]').trigger('click')
    await inBody('[data-test="policy-save"]').trigger('click')
    await settled()

    expect(JSON.parse(gateway.history.patch[0]?.data)).toEqual({ enabled: true })
    const error = inBody('[data-test="policy-error"]')
    expect(error.attributes('data-state')).toBe('conflict')
    expect(error.text()).toContain('Contradicts another enabled policy')
    expect(error.text()).toContain(CONFLICT)
    expect(wrapper.emitted('saved')).toBeUndefined()
  })

  it('asks for a version only while the software should be present', async () => {
    await openEditor({ ...web })
    const versionInput = inBody('[data-test="policy-version"] input')
    expect(versionInput.exists()).toBe(true)
    await inBody('[data-test="policy-state"] [data-value="absent"] input').setValue(true)
    await settled()
    expect(inBody('[data-test="policy-version"]').exists()).toBe(false)
  })
})
