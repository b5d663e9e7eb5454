/** /api/v1/users: the people who may use the console (admins only). */
import type { User } from './auth'
import { http } from './client'

/** The roles a person's account can be given (agent and service belong to processes). */
export const USER_ROLES = ['admin', 'operator', 'viewer'] as const
export type UserRole = (typeof USER_ROLES)[number]

export interface UserPage {
  items: User[]
  next_page_token: string
  total: number
}

export interface UserQuery {
  page_size?: number
  page_token?: string
  /** Substring of username or display name. */
  q?: string
  role?: UserRole
}

export interface UserCreate {
  username: string
  display_name: string
  role: UserRole
  password: string
}

/** Only the fields present are changed; a password here is an administrator's reset. */
export interface UserUpdate {
  display_name?: string
  role?: UserRole
  disabled?: boolean
  password?: string
}

export async function listUsers(query: UserQuery = {}): Promise<UserPage> {
  return (await http.get<UserPage>('/api/v1/users', { params: query })).data
}

export async function createUser(body: UserCreate): Promise<User> {
  return (await http.post<User>('/api/v1/users', body)).data
}

export async function updateUser(id: string, body: UserUpdate): Promise<User> {
  return (await http.patch<User>(`/api/v1/users/${encodeURIComponent(id)}`, body)).data
}

export async function deleteUser(id: string): Promise<void> {
  await http.delete(`/api/v1/users/${encodeURIComponent(id)}`)
}
