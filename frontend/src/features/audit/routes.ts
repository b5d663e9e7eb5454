/** The audit pages. */
import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: 'audit',
    name: 'audit',
    component: () => import('./AuditPage.vue'),
    meta: { title: 'audit', roles: ['admin'] },
  },
]

export default routes
