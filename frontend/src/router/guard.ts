/** The one navigation guard: pages need a signed-in user, the login page does not, and a page kept for
 * some roles sends the others to the overview. */
import type { Router } from 'vue-router'

import type { Role } from '@/api/auth'

export interface Visitor {
  loggedIn(): boolean
  role(): Role | null
}

export function installGuard(router: Router, visitor: Visitor): void {
  router.beforeEach((to) => {
    if (to.meta.public) {
      return to.name === 'login' && visitor.loggedIn() ? { path: '/' } : true
    }
    if (!visitor.loggedIn()) return { name: 'login', query: { redirect: to.fullPath } }
    const allowed = to.matched.every((record) => {
      const roles = record.meta.roles
      const role = visitor.role()
      return !roles || (role !== null && roles.includes(role))
    })
    return allowed || to.name === 'overview' ? true : { name: 'overview' }
  })
}
