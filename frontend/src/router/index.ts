import { createRouter, createWebHistory } from 'vue-router'

import { installGuard } from './guard'
import { routes } from './routes'

export function createConsoleRouter(loggedIn: () => boolean) {
  const router = createRouter({ history: createWebHistory(), routes })
  installGuard(router, loggedIn)
  return router
}
