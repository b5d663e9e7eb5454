/** Every page of the console: each feature keeps its own routes next to its pages. */
import type { RouteRecordRaw } from 'vue-router'

import type { Role } from '@/api/auth'
import account from '@/features/account/routes'
import audit from '@/features/audit/routes'
import deployments from '@/features/deployments/routes'
import groups from '@/features/groups/routes'
import overview from '@/features/overview/routes'
import packages from '@/features/packages/routes'
import policies from '@/features/policies/routes'
import servers from '@/features/servers/routes'
import users from '@/features/users/routes'
import type { MessageSchema } from '@/i18n'

declare module 'vue-router' {
  interface RouteMeta {
    /** Reachable without logging in. */
    public?: boolean
    /** The menu entry and page title. */
    title?: keyof MessageSchema['menu']
    /** Only these roles may open the page (the server refuses the others anyway). */
    roles?: Role[]
  }
}

export const routes: RouteRecordRaw[] = [
  {
    path: '/login',
    name: 'login',
    component: () => import('@/features/auth/LoginPage.vue'),
    meta: { public: true },
  },
  {
    path: '/',
    component: () => import('@/features/layout/AppLayout.vue'),
    redirect: { name: 'overview' },
    children: [
      ...overview,
      ...servers,
      ...groups,
      ...packages,
      ...deployments,
      ...policies,
      ...users,
      ...audit,
      ...account,
    ],
  },
  { path: '/:pathMatch(.*)*', redirect: { name: 'overview' } },
]
