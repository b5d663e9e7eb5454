/** The signed-in user and their tokens, kept in the browser so a reload does not log out. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'

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

  async function login(username: string, password: string): Promise<void> {
    keep(await authApi.login(username, password))
  }

  /** Ends the session on the server too; the user is logged out here even if that call fails. */
  async function logout(): Promise<void> {
    const refreshToken = session.value?.refreshToken
    forget()
    if (refreshToken) await authApi.logout(refreshToken).catch(() => undefined)
  }

  /** What the HTTP client needs: the tokens, and someone to tell when they change or expire. */
  function tokenKeeper(onExpired: () => void): TokenKeeper {
    return {
      accessToken: () => session.value?.accessToken ?? null,
      refreshToken: () => session.value?.refreshToken ?? null,
      renewed: keep,
      expired: () => {
        forget()
        onExpired()
      },
    }
  }

  return { session, user, loggedIn, canWrite, isAdmin, login, logout, keep, tokenKeeper }
})
