/** The signed-in user and their tokens, kept in the browser so a reload does not log out and every
 * tab of the console shares one session. */
import { defineStore } from 'pinia'
import { computed, onScopeDispose, ref } from 'vue'

import * as authApi from '@/api/auth'
import type { TokenOut, User } from '@/api/auth'
import type { TokenKeeper } from '@/api/client'

interface Session {
  accessToken: string
  refreshToken: string
  user: User
}

const STORAGE_KEY = 'convoy.session'

function loadSession(): Session | null {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as Session | null
  } catch {
    return null
  }
}

function sameTokens(a: Session | null, b: Session | null): boolean {
  return a?.accessToken === b?.accessToken && a?.refreshToken === b?.refreshToken
}

export const useAuthStore = defineStore('auth', () => {
  const session = ref<Session | null>(loadSession())
  const user = computed(() => session.value?.user ?? null)
  const loggedIn = computed(() => session.value !== null)
  /** Operators and admins change things; viewers only look (the server refuses them anyway). */
  const canWrite = computed(() => user.value?.role === 'admin' || user.value?.role === 'operator')
  const isAdmin = computed(() => user.value?.role === 'admin')

  function keep(tokens: TokenOut): void {
    session.value = { accessToken: tokens.access_token, refreshToken: tokens.refresh_token, user: tokens.user }
    localStorage.setItem(STORAGE_KEY, JSON.stringify(session.value))
  }

  function forget(): void {
    session.value = null
    localStorage.removeItem(STORAGE_KEY)
  }

  let onExpired: () => void = () => undefined

  function expire(): void {
    forget()
    onExpired()
  }

  /** Takes up what another tab stored: its renewed tokens, another user's session, or none. */
  function reload(): void {
    const stored = loadSession()
    if (!sameTokens(stored, session.value)) session.value = stored
  }

  // Another tab renewed, logged in or out: follow it at once, or this tab's next renewal would reuse a
  // refresh token that has already rotated, which the server takes as theft and ends the session.
  function followOtherTabs(event: StorageEvent): void {
    if (event.key !== STORAGE_KEY && event.key !== null) return
    const hadSession = session.value !== null
    reload()
    if (hadSession && session.value === null) expire()
  }
  window.addEventListener('storage', followOtherTabs)
  onScopeDispose(() => window.removeEventListener('storage', followOtherTabs))

  async function login(username: string, password: string): Promise<void> {
    keep(await authApi.login(username, password))
  }

  /** Ends the session on the server too; the user is logged out here even if that call fails. */
  async function logout(): Promise<void> {
    const refreshToken = session.value?.refreshToken
    forget()
    if (refreshToken) await authApi.logout(refreshToken).catch(() => undefined)
  }

  /** What the HTTP client needs: the tokens, and someone to tell when they change or expire. The last
   * keeper's onExpired is also called when another tab logs out. */
  function tokenKeeper(whenExpired: () => void): TokenKeeper {
    onExpired = whenExpired
    return {
      accessToken: () => session.value?.accessToken ?? null,
      refreshToken: () => session.value?.refreshToken ?? null,
      renewed: keep,
      expired: expire,
      reload,
    }
  }

  return { session, user, loggedIn, canWrite, isAdmin, login, logout, keep, tokenKeeper }
})
