/** The packages pages. */
import type { RouteRecordRaw } from 'vue-router'

const ComingSoon = () => import('@/features/placeholder/ComingSoon.vue')

const routes: RouteRecordRaw[] = [
  { path: 'packages', name: 'packages', component: ComingSoon, meta: { title: 'packages' } },
]

export default routes
