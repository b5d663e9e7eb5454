/** The overview pages. */
import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  { path: 'overview', name: 'overview', component: () => import('./OverviewPage.vue'), meta: { title: 'overview' } },
]

export default routes
