/** The policies pages. */
import type { RouteRecordRaw } from 'vue-router'

const ComingSoon = () => import('@/features/placeholder/ComingSoon.vue')

const routes: RouteRecordRaw[] = [
  { path: 'policies', name: 'policies', component: ComingSoon, meta: { title: 'policies' } },
]

export default routes
