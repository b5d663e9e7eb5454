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
    gateway.onGet('/api/v1/groups').reply(200, { items: [{ id: 'g-web', name: 'web' }], next_page_token: '', total: 1 })
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

  async function openEditor(edited: Policy) {
    const wrapper = mount(PolicyDialog, {
      ...(await signIn('operator')),
      props: { modelValue: false, policy: edited, groups: [], hostnames: {} },
      attachTo: document.body,
    })
    await wrapper.setProps({ modelValue: true })
    await settled()
    return wrapper
  }

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
