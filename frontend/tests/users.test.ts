import { DOMWrapper, flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import type { User } from '@/api/auth'
import { http } from '@/api/client'
import UsersPage from '@/features/users/UsersPage.vue'
import { createBody, emptyForm, endsSessions, formOf, updateBody, usernameValid } from '@/features/users/userForm'
import { createConsoleI18n } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

function user(id: string, username: string, role: User['role'] = 'viewer'): User {
  return {
    id,
    username,
    display_name: username.toUpperCase(),
    role,
    disabled: false,
    created_at: '2026-11-28T07:00:00Z',
    updated_at: '2026-11-28T07:00:00Z',
    last_login_at: null,
  }
}

const me = user('u-root', 'root', 'admin')
const bob = user('u-bob', 'bob', 'operator')

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
  // A form field shows its error message 100 ms after it fails.
  await new Promise((resolve) => setTimeout(resolve, 150))
}

function mountPage() {
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
    user: me,
  })
  return mount(UsersPage, {
    global: { plugins: [pinia, createConsoleI18n()], stubs: { transition: false, 'transition-group': false } },
    attachTo: document.body,
  })
}

/** The dialog is teleported to the body, so its fields are found there. */
function inBody(selector: string): DOMWrapper<HTMLElement> {
  return new DOMWrapper(document.body).find(selector)
}

function row(wrapper: ReturnType<typeof mountPage>, name: string) {
  return wrapper.find(`[data-test="user-row"][data-name="${name}"]`)
}

describe('the user form', () => {
  it('checks usernames as the server does, after trimming and lowercasing', () => {
    expect(usernameValid(' Alice.Ops ')).toBe(true)
    expect(usernameValid('a')).toBe(false)
    expect(usernameValid('-alice')).toBe(false)
    expect(usernameValid('alice smith')).toBe(false)
  })

  it('creates a user with the name as the server keeps it', () => {
    const form = { ...emptyForm(), username: ' Alice ', display_name: ' Alice Li ', role: 'operator' as const, password: 'p'.repeat(12) }
    expect(createBody(form)).toEqual({ username: 'alice', display_name: 'Alice Li', role: 'operator', password: 'p'.repeat(12) })
  })

  it('sends only what changed, and warns when the change ends the user’s sessions', () => {
    expect(updateBody(bob, formOf(bob))).toEqual({})
    const renamed = updateBody(bob, { ...formOf(bob), display_name: 'Bobby ' })
    expect(renamed).toEqual({ display_name: 'Bobby' })
    expect(endsSessions(bob, renamed)).toBe(false)

    const demoted = updateBody(bob, { ...formOf(bob), role: 'viewer', disabled: true, password: 'new-password-1' })
    expect(demoted).toEqual({ role: 'viewer', disabled: true, password: 'new-password-1' })
    expect(endsSessions(bob, demoted)).toBe(true)
  })
})

// The first mount compiles Element Plus's components, which takes a while on a busy machine.
describe('the users page', { timeout: 20_000 }, () => {
  let gateway: MockAdapter

  beforeEach(() => {
    localStorage.clear()
    gateway = new MockAdapter(http)
    gateway.onGet('/api/v1/users').reply(200, { items: [bob, me], next_page_token: '', total: 2 })
  })
  afterEach(() => {
    gateway.restore()
    document.body.innerHTML = ''
  })

  it('offers no delete on your own row, and says why', async () => {
    const wrapper = mountPage()
    await settled()

    expect(row(wrapper, 'bob').find('[data-test="user-delete"]').exists()).toBe(true)
    expect(row(wrapper, 'root').find('[data-test="user-delete"]').exists()).toBe(false)
    expect(row(wrapper, 'root').find('[data-test="user-self"]').text()).toBe('You')
    expect(row(wrapper, 'root').find('[data-test="user-edit"]').exists()).toBe(true)
  })

  it('shows roles translated, keeping the raw role for scripts', async () => {
    const wrapper = mountPage()
    await settled()
    const tag = row(wrapper, 'bob').find('[data-state="operator"]')
    expect(tag.text()).toBe('Operator')
  })

  it('searches by name, trimmed', async () => {
    const wrapper = mountPage()
    await settled()
    await wrapper.find('input[data-test="users-search"]').setValue(' ali ')
    await wrapper.find('input[data-test="users-search"]').trigger('keyup', { key: 'Enter' })
    await settled()
    expect(gateway.history.get.at(-1)?.params).toMatchObject({ q: 'ali' })
  })

  it('creates a user with what was typed, and shows why the gateway refused', async () => {
    gateway.onPost('/api/v1/users').reply(409, {
      error: { code: 'already_exists', message: "a user named 'bob' already exists", request_id: 'r' },
    })
    const wrapper = mountPage()
    await settled()
    await wrapper.find('[data-test="users-create"]').trigger('click')
    await settled()

    await inBody('input[data-test="user-username"]').setValue('Bob')
    await inBody('input[data-test="user-display-name"]').setValue('Bob B')
    await inBody('input[data-test="user-password"]').setValue('bob-password-1')
    await inBody('[data-test="user-save"]').trigger('click')
    await settled()

    expect(JSON.parse(gateway.history.post[0].data)).toEqual({
      username: 'bob',
      display_name: 'Bob B',
      role: 'viewer',
      password: 'bob-password-1',
    })
    expect(inBody('[data-test="user-failure"]').text()).toContain("a user named 'bob' already exists")
  })

  it('explains the password rules before creating', async () => {
    const wrapper = mountPage()
    await settled()
    await wrapper.find('[data-test="users-create"]').trigger('click')
    await settled()

    await inBody('input[data-test="user-username"]').setValue('carol')
    await inBody('input[data-test="user-password"]').setValue('Carol')
    await inBody('[data-test="user-save"]').trigger('click')
    await settled()
    expect(document.body.textContent).toContain('A password must be 10 to 256 characters long')

    await inBody('input[data-test="user-username"]').setValue('CarolCarol')
    await inBody('input[data-test="user-password"]').setValue('carolcarol')
    await inBody('[data-test="user-save"]').trigger('click')
    await settled()
    expect(document.body.textContent).toContain('The password must differ from the username')
    expect(gateway.history.post).toHaveLength(0)
  })

  it('edits only the changed fields', async () => {
    gateway.onPatch('/api/v1/users/u-bob').reply(200, { ...bob, disabled: true })
    const wrapper = mountPage()
    await settled()
    await row(wrapper, 'bob').find('[data-test="user-edit"]').trigger('click')
    await settled()

    await inBody('[data-test="user-disabled"]').trigger('click')
    await settled()
    expect(document.body.textContent).toContain('Saving ends all of this user')
    await inBody('[data-test="user-save"]').trigger('click')
    await settled()

    expect(JSON.parse(gateway.history.patch[0].data)).toEqual({ disabled: true })
  })

  it('deletes another user after confirmation', async () => {
    gateway.onDelete('/api/v1/users/u-bob').reply(204)
    const wrapper = mountPage()
    await settled()
    await row(wrapper, 'bob').find('[data-test="user-delete"]').trigger('click')
    await settled()
    expect(document.body.textContent).toContain('Delete user bob?')
    const confirm = [...document.querySelectorAll<HTMLButtonElement>('.el-message-box button')].find(
      (button) => button.textContent?.trim() === 'Delete',
    )
    confirm?.click()
    await settled()
    expect(gateway.history.delete.map((request) => request.url)).toEqual(['/api/v1/users/u-bob'])
  })
})
