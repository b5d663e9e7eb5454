/** The groups pages. */
import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  { path: 'groups', name: 'groups', component: () => import('./GroupsPage.vue'), meta: { title: 'groups' } },
]

export default routes
