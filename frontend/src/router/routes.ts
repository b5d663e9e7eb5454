/** Every page of the console; pages not built yet share the placeholder. */
import type { RouteRecordRaw } from 'vue-router'

import type { MessageSchema } from '@/i18n'

declare module 'vue-router' {
  interface RouteMeta {
    /** Reachable without logging in. */
    public?: boolean
    /** The menu entry and page title. */
    title?: keyof MessageSchema['menu']
  }
}

const ComingSoon = () => import('@/features/placeholder/ComingSoon.vue')

const comingPages = ['overview', 'groups', 'packages', 'deployments', 'policies', 'users', 'audit'] as const

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
      {
        path: 'servers',
        name: 'servers',
        component: () => import('@/features/servers/ServersPage.vue'),
        meta: { title: 'servers' },
      },
      ...comingPages.map((page) => ({ path: page, name: page, component: ComingSoon, meta: { title: page } })),
    ],
  },
  { path: '/:pathMatch(.*)*', redirect: { name: 'overview' } },
]
