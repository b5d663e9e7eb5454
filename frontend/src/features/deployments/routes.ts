/** The deployments pages. */
import type { RouteRecordRaw } from 'vue-router'

const ComingSoon = () => import('@/features/placeholder/ComingSoon.vue')

const routes: RouteRecordRaw[] = [
  { path: 'deployments', name: 'deployments', component: ComingSoon, meta: { title: 'deployments' } },
]

export default routes
