import { createRouter, createWebHistory } from 'vue-router'

import { installGuard, type Visitor } from './guard'
import { routes } from './routes'

export function createConsoleRouter(visitor: Visitor) {
  const router = createRouter({ history: createWebHistory(), routes })
  installGuard(router, visitor)
  return router
}
