import { describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter, type RouteRecordRaw } from 'vue-router'

import type { Role } from '@/api/auth'
import { installGuard } from '@/router/guard'
import { routes } from '@/router/routes'

// The guard decides before any page loads: the real routes with every page replaced by an empty one.
const Empty = { render: () => null }

function withoutPages(records: RouteRecordRaw[]): RouteRecordRaw[] {
  return records.map(
    (record) =>
      ({
        ...record,
        ...('component' in record && record.component ? { component: Empty } : {}),
        ...(record.children ? { children: withoutPages(record.children) } : {}),
      }) as RouteRecordRaw,
  )
}

async function visit(path: string, loggedIn: boolean, role: Role = 'operator') {
  const router = createRouter({ history: createMemoryHistory(), routes: withoutPages(routes) })
  installGuard(router, { loggedIn: () => loggedIn, role: () => (loggedIn ? role : null) })
  await router.push(path)
  return router.currentRoute.value
}

describe('the navigation guard', () => {
  it('sends an anonymous user to the login page and back afterwards', async () => {
    const route = await visit('/servers?q=web', false)
    expect(route.name).toBe('login')
    expect(route.query.redirect).toBe('/servers?q=web')
  })

  it('lets a signed-in user through', async () => {
    expect((await visit('/servers', true)).name).toBe('servers')
  })

  it('sends a signed-in user away from the login page', async () => {
    expect((await visit('/login', true)).name).toBe('overview')
  })

  it('keeps admin pages for admins', async () => {
    expect((await visit('/users', true, 'operator')).name).toBe('overview')
    expect((await visit('/audit', true, 'viewer')).name).toBe('overview')
    expect((await visit('/users', true, 'admin')).name).toBe('users')
  })
})
