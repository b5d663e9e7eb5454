/** The deployments pages: the list (with the schedules tab), a new deployment, one deployment live. */
import type { RouteRecordRaw } from 'vue-router'

import type { Role } from '@/api/auth'

const WRITERS: Role[] = ['admin', 'operator']

const routes: RouteRecordRaw[] = [
  {
    path: 'deployments',
    name: 'deployments',
    component: () => import('./DeploymentsPage.vue'),
    meta: { title: 'deployments' },
  },
  { path: 'schedules', name: 'schedules', redirect: { name: 'deployments', query: { tab: 'schedules' } } },
  {
    path: 'deployments/new',
    name: 'deployment-new',
    component: () => import('./DeploymentNewPage.vue'),
    meta: { title: 'deployments', roles: WRITERS },
  },
  {
    path: 'deployments/:id',
    name: 'deployment',
    component: () => import('./DeploymentDetailPage.vue'),
    props: true,
    meta: { title: 'deployments' },
  },
]

export default routes
