/** The account pages. */
import type { RouteRecordRaw } from 'vue-router'

const ComingSoon = () => import('@/features/placeholder/ComingSoon.vue')

const routes: RouteRecordRaw[] = [
  { path: 'account/password', name: 'password', component: ComingSoon, meta: { title: 'password' } },
]

export default routes
