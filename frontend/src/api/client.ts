/**
 * The one HTTP client of the console. Its interceptor attaches the access token and, when the gateway
 * answers 401, renews the tokens once through the refresh endpoint and retries; when renewal fails the
 * session has expired and the keeper sends the user to the login page.
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
}

export const REFRESH_URL = '/api/v1/auth/refresh'
// A 401 from these means wrong credentials or a dead refresh token: renewing cannot help.
const NO_RENEWAL = ['/api/v1/auth/login', REFRESH_URL]

export const http = axios.create({ timeout: 30_000 })

let keeper: TokenKeeper | null = null
let renewal: Promise<boolean> | null = null

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
  if (!(await renewOnce())) {
    keeper?.expired()
    throw error
  }
  return http.request({ ...config, convoyRetried: true } satisfies AxiosRequestConfig)
})

/** Requests that fail together share one renewal: a refresh token is valid for one rotation only. */
function renewOnce(): Promise<boolean> {
  renewal ??= renew().finally(() => {
    renewal = null
  })
  return renewal
}

async function renew(): Promise<boolean> {
  const refreshToken = keeper?.refreshToken()
  if (!refreshToken) return false
  try {
    const { data } = await http.post<TokenOut>(REFRESH_URL, { refresh_token: refreshToken })
    keeper?.renewed(data)
    return true
  } catch {
    return false
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

/** After a 401 outside axios: renews once (shared with axios's renewals); false when the session has
 * ended, and then the user is already on the way to the login page. */
export async function renewAfterUnauthorized(): Promise<boolean> {
  if (await renewOnce()) return true
  keeper?.expired()
  return false
}
