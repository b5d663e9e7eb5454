/** The users pages. */
import type { RouteRecordRaw } from 'vue-router'

const ComingSoon = () => import('@/features/placeholder/ComingSoon.vue')

const routes: RouteRecordRaw[] = [
  { path: 'users', name: 'users', component: ComingSoon, meta: { title: 'users', roles: ['admin'] } },
]

export default routes
