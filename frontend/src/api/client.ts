/**
 * The one HTTP client of the console. Its interceptor attaches the access token and, when the gateway
 * answers 401, renews the tokens once through the refresh endpoint and retries. Only a refused renewal
 * ends the session (the keeper sends the user to the login page); a renewal that could not reach the
 * server keeps it and fails the request with that error, so the page says so and the user can retry.
 */
import axios, { isAxiosError, type AxiosRequestConfig, type InternalAxiosRequestConfig } from 'axios'

import type { TokenOut } from './auth'

declare module 'axios' {
  interface AxiosRequestConfig {
    /** Set on the one retry after a renewal, so a second 401 is final. */
    convoyRetried?: boolean
  }
}

/** Where the tokens live; the auth store keeps them, tests give their own. */
export interface TokenKeeper {
  accessToken(): string | null
  refreshToken(): string | null
  renewed(tokens: TokenOut): void
  expired(): void
  /** Takes up what other tabs of the console stored since (renewed tokens, or no session any more).
   * Keepers that share nothing leave it out. */
  reload?(): void
}

export const REFRESH_URL = '/api/v1/auth/refresh'
// A 401 from these means wrong credentials or a dead refresh token: renewing cannot help.
const NO_RENEWAL = ['/api/v1/auth/login', REFRESH_URL]
// The refresh endpoint's answers that mean the refresh token is dead; anything else may pass.
const SESSION_ENDED = [400, 401]
// Tabs renew one at a time: a refresh token rotates once, and its reuse ends the session everywhere.
const RENEWAL_LOCK = 'convoy.renewal'

type Renewal = 'renewed' | 'ended'

export const http = axios.create({ timeout: 30_000 })

let keeper: TokenKeeper | null = null
let renewal: Promise<Renewal> | null = null

export function useTokenKeeper(next: TokenKeeper | null): void {
  keeper = next
  renewal = null
}

http.interceptors.request.use((config: InternalAxiosRequestConfig) => {
  const token = keeper?.accessToken()
  if (token && config.url !== REFRESH_URL) {
    config.headers.set('Authorization', `Bearer ${token}`)
  }
  return config
})

http.interceptors.response.use(undefined, async (error: unknown) => {
  if (!isAxiosError(error) || !error.config || error.response?.status !== 401) throw error
  const config = error.config
  if (config.convoyRetried || NO_RENEWAL.includes(config.url ?? '')) throw error
  if ((await renewOnce(sentToken(config))) === 'ended') {
    keeper?.expired()
    throw error
  }
  return http.request({ ...config, convoyRetried: true } satisfies AxiosRequestConfig)
})

function sentToken(config: InternalAxiosRequestConfig): string | null {
  const header = config.headers.get('Authorization')
  return typeof header === 'string' ? header.replace(/^Bearer /, '') : null
}

/** Requests that fail together share one renewal: a refresh token is valid for one rotation only.
 * Rejects when the renewal could not reach the server: the session may still be alive. */
function renewOnce(refusedToken: string | null): Promise<Renewal> {
  renewal ??= oneTabAtATime(() => renew(refusedToken)).finally(() => {
    renewal = null
  })
  return renewal
}

async function oneTabAtATime(task: () => Promise<Renewal>): Promise<Renewal> {
  // Browsers without Web Locks (and jsdom) make do with the single renewal per tab.
  if (!('locks' in navigator)) return task()
  return await navigator.locks.request(RENEWAL_LOCK, task)
}

/** Renews unless someone (another tab, or an earlier renewal here) already has since the refusal. */
async function renew(refusedToken: string | null): Promise<Renewal> {
  keeper?.reload?.()
  const accessToken = keeper?.accessToken() ?? null
  if (accessToken && accessToken !== refusedToken) return 'renewed'
  const refreshToken = keeper?.refreshToken()
  if (!refreshToken) return 'ended'
  try {
    const { data } = await http.post<TokenOut>(REFRESH_URL, { refresh_token: refreshToken })
    keeper?.renewed(data)
    return 'renewed'
  } catch (error) {
    if (isAxiosError(error) && SESSION_ENDED.includes(error.response?.status ?? 0)) return 'ended'
    throw error
  }
}

/** The gateway's own explanation of a failed request, for showing to the user. */
export function errorMessage(error: unknown): string | null {
  if (!isAxiosError(error)) return null
  const body = error.response?.data as { error?: { message?: string } } | undefined
  return body?.error?.message ?? null
}

/** The access token to send now, for requests made outside axios (the event stream's fetch). */
export function currentAccessToken(): string | null {
  return keeper?.accessToken() ?? null
}

/** After a 401 outside axios: renews once (shared with axios's renewals). 'ended': the session is over and
 * the user is already on the way to the login page; 'unavailable': the server could not be asked, the
 * session is kept for a later try. */
export async function renewAfterUnauthorized(): Promise<'renewed' | 'ended' | 'unavailable'> {
  const outcome = await renewOnce(currentAccessToken()).catch(() => null)
  if (outcome === 'ended') keeper?.expired()
  return outcome === 'renewed' || outcome === 'ended' ? outcome : 'unavailable'
}
