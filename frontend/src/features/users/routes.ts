/** The users pages. */
import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: 'users',
    name: 'users',
    component: () => import('./UsersPage.vue'),
    meta: { title: 'users', roles: ['admin'] },
  },
]

export default routes
