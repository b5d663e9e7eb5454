/** The user dialog's fields and what they become in a request: only what the administrator changed is sent. */
import type { Role, User } from '@/api/auth'
import { USER_ROLES, type UserCreate, type UserRole, type UserUpdate } from '@/api/users'

export interface UserForm {
  username: string
  display_name: string
  /** Empty for an account whose role a person cannot be given (it is then left as it is). */
  role: UserRole | ''
  disabled: boolean
  /** The initial password, or an administrator's reset (empty: unchanged). */
  password: string
}

// The server's rule, applied to the name as it stores it (trimmed, lowercase).
const USERNAME = /^[a-z0-9][a-z0-9._-]{1,63}$/
export const DISPLAY_NAME_MAX = 128

export function isUserRole(role: Role | null): role is UserRole {
  return USER_ROLES.some((known) => known === role)
}

export function emptyForm(): UserForm {
  return { username: '', display_name: '', role: 'viewer', disabled: false, password: '' }
}

export function formOf(user: User): UserForm {
  const role = isUserRole(user.role) ? user.role : ''
  return { username: user.username, display_name: user.display_name, role, disabled: user.disabled, password: '' }
}

export function normalUsername(username: string): string {
  return username.trim().toLowerCase()
}

export function usernameValid(username: string): boolean {
  return USERNAME.test(normalUsername(username))
}

export function createBody(form: UserForm): UserCreate {
  return {
    username: normalUsername(form.username),
    display_name: form.display_name.trim(),
    role: form.role || 'viewer',
    password: form.password,
  }
}

export function updateBody(user: User, form: UserForm): UserUpdate {
  const body: UserUpdate = {}
  const displayName = form.display_name.trim()
  if (displayName !== user.display_name) body.display_name = displayName
  if (form.role && form.role !== user.role) body.role = form.role
  if (form.disabled !== user.disabled) body.disabled = form.disabled
  if (form.password) body.password = form.password
  return body
}

/** The server ends the user's sessions on these changes, so the dialog warns before saving them. */
export function endsSessions(user: User, body: UserUpdate): boolean {
  return body.disabled === true || body.password !== undefined || (body.role !== undefined && body.role !== user.role)
}

/** An account cannot delete, disable or demote itself: the server refuses, so the console does not offer it. */
export function isSelf(user: User, me: User | null): boolean {
  return me !== null && user.id === me.id
}
