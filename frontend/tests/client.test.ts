import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import type { TokenOut } from '@/api/auth'
import { errorMessage, http, REFRESH_URL, renewAfterUnauthorized, useTokenKeeper } from '@/api/client'

function tokens(access: string, refresh: string): TokenOut {
  const user = {
    id: 'u1',
    username: 'ops',
    display_name: 'Ops',
    role: 'operator' as const,
    disabled: false,
    created_at: null,
    updated_at: null,
    last_login_at: null,
  }
  return {
    access_token: access,
    token_type: 'Bearer',
    expires_in: 900,
    access_expires_at: null,
    refresh_token: refresh,
    refresh_expires_at: null,
    user,
  }
}

/** A keeper that records what the client tells it. */
function keeper(access: string, refresh: string) {
  const state = { access, refresh, expired: 0 }
  useTokenKeeper({
    accessToken: () => state.access,
    refreshToken: () => state.refresh,
    renewed: (next) => {
      state.access = next.access_token
      state.refresh = next.refresh_token
    },
    expired: () => {
      state.expired += 1
    },
  })
  return state
}

describe('the HTTP client', () => {
  let gateway: MockAdapter

  beforeEach(() => {
    gateway = new MockAdapter(http)
  })
  afterEach(() => {
    gateway.restore()
    useTokenKeeper(null)
  })

  it('sends the access token', async () => {
    keeper('a1', 'r1')
    gateway.onGet('/api/v1/servers').reply((config) => [200, { seen: config.headers?.Authorization }])
    const { data } = await http.get('/api/v1/servers')
    expect(data.seen).toBe('Bearer a1')
  })

  it('renews an expired access token once and retries with the new one', async () => {
    const state = keeper('old', 'r1')
    const refreshBodies: string[] = []
    gateway.onPost(REFRESH_URL).reply((config) => {
      refreshBodies.push(config.data)
      return [200, tokens('new', 'r2')]
    })
    gateway.onGet('/api/v1/servers').reply((config) =>
      config.headers?.Authorization === 'Bearer new' ? [200, { items: [] }] : [401, {}],
    )

    const replies = await Promise.all([http.get('/api/v1/servers'), http.get('/api/v1/servers')])

    expect(replies.map((reply) => reply.status)).toEqual([200, 200])
    expect(refreshBodies).toEqual([JSON.stringify({ refresh_token: 'r1' })])
    expect(state).toMatchObject({ access: 'new', refresh: 'r2', expired: 0 })
  })

  it.each([400, 401])('ends the session when the renewal is refused with %i', async (status) => {
    const state = keeper('old', 'r1')
    gateway.onPost(REFRESH_URL).reply(status, { error: { code: 'unauthenticated' } })
    gateway.onGet('/api/v1/servers').reply(401, {})

    await expect(http.get('/api/v1/servers')).rejects.toMatchObject({ response: { status: 401 } })
    expect(state.expired).toBe(1)
    expect(gateway.history.post).toHaveLength(1)
  })

  it('keeps the session when the renewal meets an unavailable server, and says why', async () => {
    const state = keeper('old', 'r1')
    gateway.onPost(REFRESH_URL).replyOnce(503, { error: { message: 'auth is unavailable' } })
    gateway.onGet('/api/v1/servers').reply((config) =>
      config.headers?.Authorization === 'Bearer new' ? [200, { items: [] }] : [401, {}],
    )

    const failure = await http.get('/api/v1/servers').catch((error: unknown) => error)
    expect(errorMessage(failure)).toBe('auth is unavailable')
    expect(state).toMatchObject({ access: 'old', refresh: 'r1', expired: 0 })

    // The user tries again once the server is back: the refresh token was never used, so it still works.
    gateway.onPost(REFRESH_URL).reply(200, tokens('new', 'r2'))
    await expect(http.get('/api/v1/servers')).resolves.toMatchObject({ status: 200 })
    expect(state).toMatchObject({ access: 'new', refresh: 'r2', expired: 0 })
  })

  it.each([
    ['a network error', (route: MockAdapter.RequestHandler) => route.networkError()],
    ['a timeout', (route: MockAdapter.RequestHandler) => route.timeout()],
  ])('keeps the session when the renewal meets %s', async (_, fail) => {
    const state = keeper('old', 'r1')
    fail(gateway.onPost(REFRESH_URL))
    gateway.onGet('/api/v1/servers').reply(401, {})

    const failure = await http.get('/api/v1/servers').catch((error: unknown) => error)
    expect(failure).toMatchObject({ config: { url: REFRESH_URL } })
    expect(failure).not.toHaveProperty('response.status')
    expect(state).toMatchObject({ access: 'old', refresh: 'r1', expired: 0 })
  })

  it('tells the event stream that a renewal failed without ending the session', async () => {
    const state = keeper('old', 'r1')
    gateway.onPost(REFRESH_URL).replyOnce(502, {}).onPost(REFRESH_URL).replyOnce(401, {})

    expect(await renewAfterUnauthorized()).toBe('unavailable')
    expect(state.expired).toBe(0)
    expect(await renewAfterUnauthorized()).toBe('ended')
    expect(state.expired).toBe(1)
  })

  it('retries a request refused before the last renewal with the new token, without renewing again', async () => {
    const state = keeper('old', 'r1')
    gateway.onPost(REFRESH_URL).reply(200, tokens('new', 'r2'))
    // The first try of this request is answered only after another request has renewed the tokens.
    let answerLate = (): void => undefined
    gateway.onGet('/api/v1/slow').reply((config) =>
      config.headers?.Authorization === 'Bearer new'
        ? [200, {}]
        : new Promise((resolve) => {
            answerLate = () => resolve([401, {}])
          }),
    )
    gateway.onGet('/api/v1/servers').reply((config) =>
      config.headers?.Authorization === 'Bearer new' ? [200, {}] : [401, {}],
    )

    const slow = http.get('/api/v1/slow')
    await http.get('/api/v1/servers')
    answerLate()

    await expect(slow).resolves.toMatchObject({ status: 200 })
    expect(gateway.history.post).toHaveLength(1)
    expect(state).toMatchObject({ access: 'new', refresh: 'r2', expired: 0 })
  })

  it('does not renew when the retried request is refused again', async () => {
    const state = keeper('old', 'r1')
    gateway.onPost(REFRESH_URL).reply(200, tokens('new', 'r2'))
    gateway.onGet('/api/v1/servers').reply(401, {})

    await expect(http.get('/api/v1/servers')).rejects.toMatchObject({ response: { status: 401 } })
    expect(gateway.history.post).toHaveLength(1)
    expect(gateway.history.get).toHaveLength(2)
    expect(state.expired).toBe(0)
  })

  it('takes a refused login as wrong credentials, not an expired session', async () => {
    const state = keeper('', '')
    gateway.onPost('/api/v1/auth/login').reply(401, { error: { message: 'wrong username or password' } })

    await expect(http.post('/api/v1/auth/login', {})).rejects.toMatchObject({ response: { status: 401 } })
    expect(gateway.history.post).toHaveLength(1)
    expect(state.expired).toBe(0)
  })
})
