/** /api/v1/auth: log in, renew, log out, who am I. */
import { http } from './client'

export type Role = 'admin' | 'operator' | 'viewer' | 'agent' | 'service'

export interface User {
  id: string
  username: string
  display_name: string
  role: Role | null
  disabled: boolean
  created_at: string | null
  updated_at: string | null
  last_login_at: string | null
}

export interface TokenOut {
  access_token: string
  token_type: string
  expires_in: number
  access_expires_at: string | null
  refresh_token: string
  refresh_expires_at: string | null
  user: User
}

export async function login(username: string, password: string): Promise<TokenOut> {
  return (await http.post<TokenOut>('/api/v1/auth/login', { username, password })).data
}

export async function logout(refreshToken: string): Promise<void> {
  await http.post('/api/v1/auth/logout', { refresh_token: refreshToken })
}

export async function currentUser(): Promise<User> {
  return (await http.get<User>('/api/v1/auth/me')).data
}

/** Changes the caller's own password; the server ends their other sessions and keeps this one. */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  await http.post('/api/v1/auth/password', { current_password: currentPassword, new_password: newPassword })
}
