import { describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import type { Role } from '@/api/auth'
import { installGuard } from '@/router/guard'
import { routes } from '@/router/routes'

// The guard decides before any page loads; empty pages keep Element Plus out of this test.
vi.mock('@/features/auth/LoginPage.vue', () => ({ default: { render: () => null } }))
vi.mock('@/features/layout/AppLayout.vue', () => ({ default: { render: () => null } }))
vi.mock('@/features/servers/ServersPage.vue', () => ({ default: { render: () => null } }))
vi.mock('@/features/placeholder/ComingSoon.vue', () => ({ default: { render: () => null } }))

async function visit(path: string, loggedIn: boolean, role: Role = 'operator') {
  const router = createRouter({ history: createMemoryHistory(), routes })
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
