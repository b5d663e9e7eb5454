import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { http } from '@/api/client'
import { createJoinToken } from '@/api/joinTokens'
import { listServers, revokeServer } from '@/api/servers'
import { copyText } from '@/features/servers/clipboard'
import { defaultJoinTokenForm, joinTokenRequest } from '@/features/servers/joinTokenForm'
import {
  emptyFilters,
  filtersFromRoute,
  filtersToQuery,
  filtersToRoute,
  hasFilters,
  parseLabels,
} from '@/features/servers/serverFilters'

describe('the servers filters', () => {
  it('send nothing when nothing is chosen', () => {
    expect(filtersToQuery(emptyFilters())).toEqual({})
    expect(hasFilters({ ...emptyFilters(), search: '   ' })).toBe(false)
  })

  it('send each chosen filter under the name the API reads, trimmed', () => {
    const filters = {
      search: ' 10.0.3 ',
      groupId: 'g-1',
      status: 'online' as const,
      osFamily: 'rpm' as const,
      category: 'database' as const,
      label: ' env=prod , arch!=aarch64 ,',
    }
    expect(filtersToQuery(filters)).toEqual({
      q: '10.0.3',
      group_id: 'g-1',
      status: 'online',
      os_family: 'rpm',
      category: 'database',
      label: 'env=prod,arch!=aarch64',
    })
  })

  it('reach the API as query parameters, with the page token and size', async () => {
    const gateway = new MockAdapter(http)
    gateway.onGet('/api/v1/servers').reply((config) => [200, { items: [], next_page_token: '', total: 0, seen: config.params }])
    const query = { ...filtersToQuery({ ...emptyFilters(), status: 'offline', label: 'env=prod' }), page_size: 20, page_token: 't2' }
    await listServers(query)
    expect(gateway.history.get[0]?.params).toEqual({ status: 'offline', label: 'env=prod', page_size: 20, page_token: 't2' })
    gateway.restore()
  })

  it('survive the address bar, and drop values the API would refuse', () => {
    const filters = { ...emptyFilters(), search: 'web', status: 'pending' as const, label: 'env=prod' }
    expect(filtersFromRoute(filtersToRoute(filters) as Record<string, string>)).toEqual(filters)
    expect(filtersFromRoute({ status: 'sleeping', os_family: ['deb', 'rpm'], category: 'web' })).toEqual({
      ...emptyFilters(),
      osFamily: 'deb',
      category: 'web',
    })
  })
})

describe('labels typed by hand', () => {
  it('are read one per line or comma-separated, blanks around them ignored', () => {
    expect(parseLabels('env=prod\n owner = ops , tier=')).toEqual({ labels: { env: 'prod', owner: 'ops', tier: '' } })
    expect(parseLabels('')).toEqual({ labels: {} })
  })

  it('name the first term that is not key=value', () => {
    expect(parseLabels('env=prod\nbroken\n=x')).toEqual({ invalid: 'broken' })
    expect(parseLabels('=x')).toEqual({ invalid: '=x' })
  })
})

describe('the join command', () => {
  let gateway: MockAdapter
  beforeEach(() => {
    gateway = new MockAdapter(http)
  })
  afterEach(() => gateway.restore())

  it('asks for a token for new nodes with their groups, lifetime and uses', async () => {
    const form = { ...defaultJoinTokenForm(), groupIds: ['g-1', 'g-2'], ttlMinutes: 45, maxUses: 3 }
    gateway.onPost('/api/v1/join-tokens').reply(201, { command: 'convoy-agent enroll …' })
    await createJoinToken(joinTokenRequest(form))
    expect(JSON.parse(gateway.history.post[0]?.data as string)).toEqual({ group_ids: ['g-1', 'g-2'], ttl_seconds: 2700, max_uses: 3 })
  })

  it('asks for a single-use token for a server added by hand, without groups', () => {
    const form = { ...defaultJoinTokenForm(), groupIds: ['g-1'], maxUses: 5 }
    expect(joinTokenRequest(form, 's-9')).toEqual({ server_id: 's-9', ttl_seconds: 1800 })
  })

  it('is copied with the Clipboard API where the page may use it', async () => {
    const writeText = vi.fn().mockResolvedValue(undefined)
    vi.stubGlobal('navigator', { clipboard: { writeText } })
    expect(await copyText('convoy-agent enroll', null)).toBe('copied')
    expect(writeText).toHaveBeenCalledWith('convoy-agent enroll')
    vi.unstubAllGlobals()
  })

  it('is selected for the keyboard where the browser refuses to copy', async () => {
    vi.stubGlobal('navigator', {})
    const box = document.createElement('code')
    box.textContent = 'convoy-agent enroll --token cvj_x'
    document.body.append(box)
    const execCommand = document.execCommand
    document.execCommand = vi.fn().mockReturnValue(false)
    expect(await copyText(box.textContent, box)).toBe('selected')
    expect(window.getSelection()?.toString()).toBe('convoy-agent enroll --token cvj_x')
    document.execCommand = execCommand
    box.remove()
    vi.unstubAllGlobals()
  })
})

describe('revoking a server', () => {
  it('sends the reason for the audit log', async () => {
    const gateway = new MockAdapter(http)
    gateway.onPost('/api/v1/servers/s-1/revoke').reply(204)
    await revokeServer('s-1', 'decommissioned')
    expect(JSON.parse(gateway.history.post[0]?.data as string)).toEqual({ reason: 'decommissioned' })
    gateway.restore()
  })
})
