import { flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { createPinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import { http } from '@/api/client'
import LoginPage from '@/features/auth/LoginPage.vue'
import { createConsoleI18n } from '@/i18n'

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
}

async function mountAt(path: string) {
  localStorage.setItem('convoy.locale', 'en')
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/login', name: 'login', component: LoginPage },
      { path: '/:rest(.*)*', name: 'elsewhere', component: { render: () => null } },
    ],
  })
  await router.push(path)
  const wrapper = mount(LoginPage, { global: { plugins: [createPinia(), router, createConsoleI18n()] } })
  return { wrapper, router }
}

async function logIn(wrapper: Awaited<ReturnType<typeof mountAt>>['wrapper']) {
  await wrapper.find('input[data-test="login-username"]').setValue('admin')
  await wrapper.find('input[data-test="login-password"]').setValue('secret-password')
  // What Enter in a field does: the form is submitted.
  await wrapper.find('form').trigger('submit')
  await settled()
}

// The first mount compiles Element Plus's components, which takes a while on a busy machine.
describe('the login page', { timeout: 20_000 }, () => {
  let gateway: MockAdapter

  beforeEach(() => {
    localStorage.clear()
    gateway = new MockAdapter(http)
  })
  afterEach(() => gateway.restore())

  it('says the session expired when sent back for that', async () => {
    const { wrapper } = await mountAt('/login?expired=1&redirect=/servers')
    expect(wrapper.find('[data-test="login-notice"]').text()).toContain('Your session has expired')
    expect(wrapper.find('[data-test="login-submit"]').exists()).toBe(true)
  })

  it('says the password changed when sent back for that', async () => {
    const { wrapper } = await mountAt('/login?reason=password')
    expect(wrapper.find('[data-test="login-notice"]').text()).toContain('log in with the new password')
  })

  it('says so on wrong credentials', async () => {
    gateway.onPost('/api/v1/auth/login').reply(401, {
      error: { code: 'unauthenticated', message: 'invalid username or password', request_id: 'r' },
    })
    const { wrapper, router } = await mountAt('/login?expired=1')
    await logIn(wrapper)
    expect(wrapper.find('[data-test="login-failure"]').text()).toBe('Wrong username or password')
    expect(wrapper.find('[data-test="login-notice"]').exists()).toBe(false)
    expect(router.currentRoute.value.name).toBe('login')
  })

  it('logs in and goes back where the user was', async () => {
    gateway.onPost('/api/v1/auth/login').reply(200, {
      access_token: 'a1',
      token_type: 'Bearer',
      expires_in: 900,
      access_expires_at: null,
      refresh_token: 'r1',
      refresh_expires_at: null,
      user: { id: 'u1', username: 'admin', display_name: '', role: 'admin', disabled: false, created_at: null, updated_at: null, last_login_at: null },
    })
    const { wrapper, router } = await mountAt('/login?redirect=/servers%3Fq%3Dweb')
    await logIn(wrapper)
    expect(JSON.parse(gateway.history.post[0].data)).toEqual({ username: 'admin', password: 'secret-password' })
    expect(router.currentRoute.value.fullPath).toBe('/servers?q=web')
  })
})
