import { flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import type { User } from '@/api/auth'
import { http, useTokenKeeper } from '@/api/client'
import ChangePasswordPage from '@/features/account/ChangePasswordPage.vue'
import { newPasswordProblem, passwordProblem, repeatProblem } from '@/features/account/passwordPolicy'
import { createConsoleI18n } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

const me: User = {
  id: 'u-alice',
  username: 'alice',
  display_name: 'Alice',
  role: 'operator',
  disabled: false,
  created_at: null,
  updated_at: null,
  last_login_at: null,
}

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
}

async function mountPage() {
  localStorage.setItem('convoy.locale', 'en')
  const pinia = createPinia()
  setActivePinia(pinia)
  const auth = useAuthStore()
  auth.keep({
    access_token: 'a1',
    token_type: 'Bearer',
    expires_in: 900,
    access_expires_at: null,
    refresh_token: 'r1',
    refresh_expires_at: null,
    user: me,
  })
  useTokenKeeper(auth.tokenKeeper(() => undefined))
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/login', name: 'login', component: { render: () => null } },
      { path: '/account/password', name: 'password', component: ChangePasswordPage },
    ],
  })
  await router.push('/account/password')
  const wrapper = mount(ChangePasswordPage, {
    // Real transitions, so a field's error message is rendered as the user sees it.
    global: { plugins: [pinia, router, createConsoleI18n()], stubs: { transition: false, 'transition-group': false } },
    attachTo: document.body,
  })
  return { wrapper, router, auth }
}

async function fill(wrapper: Awaited<ReturnType<typeof mountPage>>['wrapper'], values: string[]) {
  const names = ['password-current', 'password-new', 'password-repeat']
  for (const [index, name] of names.entries()) {
    // Element Plus hands an input's attributes to the native input.
    await wrapper.find(`input[data-test="${name}"]`).setValue(values[index])
  }
  await wrapper.find('form').trigger('submit')
  await settled()
  // A field shows its error message 100 ms after it fails.
  await new Promise((resolve) => setTimeout(resolve, 150))
}

describe('the password rules', () => {
  it('are the server’s: 10 to 256 characters, counted as characters, not the username', () => {
    expect(passwordProblem('short')).toBe('length')
    expect(passwordProblem('x'.repeat(257))).toBe('length')
    expect(passwordProblem('密码密码密码密码密码')).toBeNull()
    expect(passwordProblem('😀'.repeat(9))).toBe('length')
    expect(passwordProblem('Alice.Smith', 'alice.smith')).toBe('sameAsUsername')
    expect(passwordProblem('alice.smith')).toBeNull()
  })

  it('want a new password typed twice the same, and different from the current one', () => {
    const change = { current: 'old-password-1', next: 'old-password-1', repeat: 'old-password-1' }
    expect(newPasswordProblem(change, 'alice')).toBe('sameAsCurrent')
    expect(repeatProblem({ ...change, repeat: 'old-password-2' })).toBe('mismatch')
    expect(repeatProblem(change)).toBeNull()
  })
})

// The first mount compiles Element Plus's components, which takes a while on a busy machine.
describe('the change password page', { timeout: 20_000 }, () => {
  let gateway: MockAdapter

  beforeEach(() => {
    localStorage.clear()
    gateway = new MockAdapter(http)
  })
  afterEach(() => {
    gateway.restore()
    useTokenKeeper(null)
    document.body.innerHTML = ''
  })

  it('refuses two different new passwords without asking the server', async () => {
    const { wrapper } = await mountPage()
    await fill(wrapper, ['old-password-1', 'new-password-1', 'new-password-2'])
    expect(wrapper.text()).toContain('The two new passwords do not match')
    expect(gateway.history.post).toHaveLength(0)
  })

  it('explains the length rule before sending', async () => {
    const { wrapper } = await mountPage()
    await fill(wrapper, ['old-password-1', 'short', 'short'])
    expect(wrapper.text()).toContain('A password must be 10 to 256 characters long')
    expect(gateway.history.post).toHaveLength(0)
  })

  it('sends the current and new password and stays logged in', async () => {
    gateway.onPost('/api/v1/auth/password').reply(204)
    gateway.onGet('/api/v1/auth/me').reply(200, me)
    const { wrapper, router, auth } = await mountPage()
    await fill(wrapper, ['old-password-1', 'new-password-1', 'new-password-1'])

    expect(gateway.history.post).toHaveLength(1)
    expect(JSON.parse(gateway.history.post[0].data)).toEqual({
      current_password: 'old-password-1',
      new_password: 'new-password-1',
    })
    expect(auth.loggedIn).toBe(true)
    expect(router.currentRoute.value.name).toBe('password')
    expect(document.body.textContent).toContain('Password changed')
  })

  it('shows the gateway’s reason when the current password is wrong', async () => {
    gateway.onPost('/api/v1/auth/password').reply(400, {
      error: { code: 'invalid_argument', message: 'the current password is not correct', request_id: 'r' },
    })
    const { wrapper } = await mountPage()
    await fill(wrapper, ['wrong-password', 'new-password-1', 'new-password-1'])
    expect(wrapper.text()).toContain('the current password is not correct')
  })

  it('sends the user to log in again when this session ended too', async () => {
    gateway.onPost('/api/v1/auth/password').reply(204)
    gateway.onGet('/api/v1/auth/me').reply(401, { error: { code: 'unauthenticated', message: 'ended' } })
    gateway.onPost('/api/v1/auth/refresh').reply(401, { error: { code: 'unauthenticated', message: 'ended' } })
    const { wrapper, router, auth } = await mountPage()
    await fill(wrapper, ['old-password-1', 'new-password-1', 'new-password-1'])

    expect(auth.loggedIn).toBe(false)
    expect(router.currentRoute.value.name).toBe('login')
    expect(router.currentRoute.value.query.reason).toBe('password')
  })
})
