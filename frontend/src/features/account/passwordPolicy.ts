/** The server's password rules, checked while typing so the user learns them before sending. */

export const PASSWORD_MIN = 10
export const PASSWORD_MAX = 256

export type PasswordProblem = 'length' | 'sameAsUsername' | 'sameAsCurrent' | 'mismatch'

/** What the server would refuse in a new password; `username` is left out where the server does not compare
 * (an administrator's reset). */
export function passwordProblem(password: string, username = ''): PasswordProblem | null {
  // The server counts characters, not UTF-16 units.
  const length = [...password].length
  if (length < PASSWORD_MIN || length > PASSWORD_MAX) return 'length'
  if (username && password.toLowerCase() === username.trim().toLowerCase()) return 'sameAsUsername'
  return null
}

export interface PasswordChange {
  current: string
  next: string
  repeat: string
}

/** The new password of a change of one's own: the rules, and it must be new. */
export function newPasswordProblem(change: PasswordChange, username: string): PasswordProblem | null {
  if (change.current && change.next === change.current) return 'sameAsCurrent'
  return passwordProblem(change.next, username)
}

export function repeatProblem(change: PasswordChange): PasswordProblem | null {
  return change.repeat === change.next ? null : 'mismatch'
}
