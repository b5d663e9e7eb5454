/** The packages pages. */
import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  { path: 'packages', name: 'packages', component: () => import('./PackagesPage.vue'), meta: { title: 'packages' } },
]

export default routes
