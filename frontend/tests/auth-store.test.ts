import MockAdapter from 'axios-mock-adapter'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import type { Role, TokenOut } from '@/api/auth'
import { http, REFRESH_URL, useTokenKeeper } from '@/api/client'
import { useAuthStore } from '@/stores/auth'

const STORAGE_KEY = 'convoy.session'

function tokens(access: string, refresh: string, username = 'ops', role: Role = 'operator'): TokenOut {
  return {
    access_token: access,
    token_type: 'Bearer',
    expires_in: 900,
    access_expires_at: null,
    refresh_token: refresh,
    refresh_expires_at: null,
    user: {
      id: `id-${username}`,
      username,
      display_name: username,
      role,
      disabled: false,
      created_at: null,
      updated_at: null,
      last_login_at: null,
    },
  }
}

/** What another tab of the console does to the shared storage; `announce` delivers its storage event. */
function otherTab(next: TokenOut | null, announce = true): void {
  const value = next
    ? JSON.stringify({ accessToken: next.access_token, refreshToken: next.refresh_token, user: next.user })
    : null
  if (value) localStorage.setItem(STORAGE_KEY, value)
  else localStorage.removeItem(STORAGE_KEY)
  if (announce) {
    window.dispatchEvent(new StorageEvent('storage', { key: STORAGE_KEY, newValue: value, storageArea: localStorage }))
  }
}

/** A signed-in tab: the real store, wired to the client as the console does. */
function signedIn() {
  setActivePinia(createPinia())
  const auth = useAuthStore()
  auth.keep(tokens('a1', 'r1'))
  const tab = { auth, sentToLogin: 0 }
  useTokenKeeper(
    auth.tokenKeeper(() => {
      tab.sentToLogin += 1
    }),
  )
  return tab
}

/** The gateway accepts only the given access token. */
function acceptOnly(gateway: MockAdapter, access: string) {
  gateway.onGet('/api/v1/servers').reply((config) =>
    config.headers?.Authorization === `Bearer ${access}` ? [200, { items: [] }] : [401, {}],
  )
}

describe('one session shared by the tabs of the console', () => {
  let gateway: MockAdapter
  let tab: ReturnType<typeof signedIn>

  beforeEach(() => {
    localStorage.clear()
    gateway = new MockAdapter(http)
    tab = signedIn()
  })
  afterEach(() => {
    gateway.restore()
    useTokenKeeper(null)
    tab.auth.$dispose()
    Reflect.deleteProperty(navigator, 'locks')
  })

  it('retries a refused request with the tokens another tab renewed, without renewing again', async () => {
    otherTab(tokens('a2', 'r2'), false)
    acceptOnly(gateway, 'a2')

    await expect(http.get('/api/v1/servers')).resolves.toMatchObject({ status: 200 })
    expect(gateway.history.post).toHaveLength(0)
    expect(tab.auth.session).toMatchObject({ accessToken: 'a2', refreshToken: 'r2' })
    expect(tab.sentToLogin).toBe(0)
  })

  it('takes up the tokens another tab renewed as soon as it says so', async () => {
    otherTab(tokens('a2', 'r2'))
    expect(tab.auth.session).toMatchObject({ accessToken: 'a2', refreshToken: 'r2' })

    acceptOnly(gateway, 'a2')
    await expect(http.get('/api/v1/servers')).resolves.toMatchObject({ status: 200 })
    expect(gateway.history.get).toHaveLength(1)
  })

  it('becomes the user another tab logged in as', () => {
    otherTab(tokens('b1', 'rb1', 'auditor', 'viewer'))

    expect(tab.auth.user?.username).toBe('auditor')
    expect(tab.auth.canWrite).toBe(false)
    expect(tab.sentToLogin).toBe(0)
  })

  it('goes to the login page when another tab logs out, without asking the server', () => {
    otherTab(null)

    expect(tab.auth.loggedIn).toBe(false)
    expect(tab.sentToLogin).toBe(1)
    expect(gateway.history.post).toHaveLength(0)
  })

  it('goes to the login page when another tab clears the storage', () => {
    localStorage.clear()
    window.dispatchEvent(new StorageEvent('storage', { key: null, storageArea: localStorage }))

    expect(tab.auth.loggedIn).toBe(false)
    expect(tab.sentToLogin).toBe(1)
  })

  it('ignores the other things tabs keep in storage', () => {
    localStorage.setItem('convoy.locale', 'en')
    window.dispatchEvent(new StorageEvent('storage', { key: 'convoy.locale', newValue: 'en' }))

    expect(tab.auth.session).toMatchObject({ accessToken: 'a1', refreshToken: 'r1' })
    expect(tab.sentToLogin).toBe(0)
  })

  it('ends the session without renewing when another tab has logged out before it could say so', async () => {
    otherTab(null, false)
    acceptOnly(gateway, 'a1-never')

    await expect(http.get('/api/v1/servers')).rejects.toMatchObject({ response: { status: 401 } })
    expect(gateway.history.post).toHaveLength(0)
    expect(tab.auth.loggedIn).toBe(false)
    expect(tab.sentToLogin).toBe(1)
  })

  it('keeps the renewed tokens where the other tabs find them', async () => {
    gateway.onPost(REFRESH_URL).reply(200, tokens('a2', 'r2'))
    acceptOnly(gateway, 'a2')

    await http.get('/api/v1/servers')
    expect(JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null')).toMatchObject({
      accessToken: 'a2',
      refreshToken: 'r2',
    })
  })

  describe('with Web Locks', () => {
    /** Grants the lock after `meanwhile` has run, as if another tab held it until then. */
    function locks(meanwhile: () => void) {
      const requested: string[] = []
      const manager = {
        request: async (name: string, task: () => Promise<unknown>) => {
          requested.push(name)
          meanwhile()
          return task()
        },
      }
      Object.defineProperty(navigator, 'locks', { value: manager, configurable: true })
      return requested
    }

    it('renews one tab at a time and takes up what the tab before renewed', async () => {
      const requested = locks(() => otherTab(tokens('a2', 'r2'), false))
      acceptOnly(gateway, 'a2')

      await expect(http.get('/api/v1/servers')).resolves.toMatchObject({ status: 200 })
      expect(requested).toEqual(['convoy.renewal'])
      expect(gateway.history.post).toHaveLength(0)
    })

    it('renews inside the lock when no other tab has', async () => {
      const requested = locks(() => undefined)
      gateway.onPost(REFRESH_URL).reply(200, tokens('a2', 'r2'))
      acceptOnly(gateway, 'a2')

      const replies = await Promise.all([http.get('/api/v1/servers'), http.get('/api/v1/servers')])
      expect(replies.map((reply) => reply.status)).toEqual([200, 200])
      expect(requested).toEqual(['convoy.renewal'])
      expect(gateway.history.post.map((request) => request.data)).toEqual([JSON.stringify({ refresh_token: 'r1' })])
    })
  })
})
