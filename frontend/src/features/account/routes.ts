/** The account pages: what every signed-in user may change about their own account. */
import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: 'account/password',
    name: 'password',
    component: () => import('./ChangePasswordPage.vue'),
    meta: { title: 'password' },
  },
]

export default routes
