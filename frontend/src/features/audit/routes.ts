/** The audit pages. */
import type { RouteRecordRaw } from 'vue-router'

const ComingSoon = () => import('@/features/placeholder/ComingSoon.vue')

const routes: RouteRecordRaw[] = [
  { path: 'audit', name: 'audit', component: ComingSoon, meta: { title: 'audit', roles: ['admin'] } },
]

export default routes
