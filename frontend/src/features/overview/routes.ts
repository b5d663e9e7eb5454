/** The overview pages. */
import type { RouteRecordRaw } from 'vue-router'

const ComingSoon = () => import('@/features/placeholder/ComingSoon.vue')

const routes: RouteRecordRaw[] = [
  { path: 'overview', name: 'overview', component: ComingSoon, meta: { title: 'overview' } },
]

export default routes
