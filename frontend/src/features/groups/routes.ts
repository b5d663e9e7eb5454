/** The groups pages. */
import type { RouteRecordRaw } from 'vue-router'

const ComingSoon = () => import('@/features/placeholder/ComingSoon.vue')

const routes: RouteRecordRaw[] = [
  { path: 'groups', name: 'groups', component: ComingSoon, meta: { title: 'groups' } },
]

export default routes
