/** The one navigation guard: pages need a signed-in user, the login page does not. */
import type { Router } from 'vue-router'

export function installGuard(router: Router, loggedIn: () => boolean): void {
  router.beforeEach((to) => {
    if (to.meta.public) {
      return to.name === 'login' && loggedIn() ? { path: '/' } : true
    }
    return loggedIn() ? true : { name: 'login', query: { redirect: to.fullPath } }
  })
}
