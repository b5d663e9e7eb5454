/** The servers pages. */
import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  { path: 'servers', name: 'servers', component: () => import('./ServersPage.vue'), meta: { title: 'servers' } },
]

export default routes
