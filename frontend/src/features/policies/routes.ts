/** The policies pages. */
import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  { path: 'policies', name: 'policies', component: () => import('./PoliciesPage.vue'), meta: { title: 'policies' } },
  {
    path: 'policies/:id',
    name: 'policy',
    component: () => import('./PolicyCompliancePage.vue'),
    meta: { title: 'policies' },
  },
]

export default routes
