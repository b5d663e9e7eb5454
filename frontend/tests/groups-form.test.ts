import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { http } from '@/api/client'
import { addMembers, createGroup, updateGroup, type Group } from '@/api/groups'
import {
  cronHasFiveFields,
  durationParts,
  emptyGroupForm,
  formToBody,
  groupToForm,
} from '@/features/groups/groupForm'

const nightly: Group = {
  id: 'g-1',
  name: 'web-prod',
  description: 'front ends',
  category: 'web',
  maintenance_window: { cron: '30 22 * * sat', duration_seconds: 9000, timezone: 'Asia/Shanghai' },
  member_count: 12,
  created_at: null,
  updated_at: null,
}

describe('the group form', () => {
  it('starts without a window, ready with the browser’s own zone when one is turned on', () => {
    const form = emptyGroupForm()
    expect(form.windowEnabled).toBe(false)
    expect(form.timezone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone)
    expect(formToBody(form).maintenance_window).toBeNull()
  })

  it('sends the window as the API takes it: single-spaced cron, seconds, zone', () => {
    const form = { ...emptyGroupForm(), name: ' db ', windowEnabled: true, cron: ' 0  2 * *   sun ', durationMinutes: 90, timezone: 'Europe/Berlin' }
    expect(formToBody(form)).toEqual({
      name: 'db',
      description: '',
      category: null,
      maintenance_window: { cron: '0 2 * * sun', duration_seconds: 5400, timezone: 'Europe/Berlin' },
    })
  })

  it('shows a group as it is, and sends it back unchanged', () => {
    const form = groupToForm(nightly)
    expect(form).toMatchObject({ windowEnabled: true, cron: '30 22 * * sat', durationMinutes: 150, timezone: 'Asia/Shanghai' })
    expect(formToBody(form)).toEqual({
      name: 'web-prod',
      description: 'front ends',
      category: 'web',
      maintenance_window: nightly.maintenance_window,
    })
  })

  it('removes a category or window the user cleared, with explicit nulls', () => {
    const form = { ...groupToForm(nightly), category: '' as const, windowEnabled: false }
    expect(formToBody(form)).toMatchObject({ category: null, maintenance_window: null })
  })

  it('checks only that the cron has five fields; the inventory judges the rest', () => {
    expect(cronHasFiveFields('0 2 * * sat')).toBe(true)
    expect(cronHasFiveFields('0 99 * * sat')).toBe(true)
    expect(cronHasFiveFields('0 2 * *')).toBe(false)
    expect(cronHasFiveFields('0 0 2 * * sat')).toBe(false)
    expect(cronHasFiveFields('  ')).toBe(false)
  })

  it('splits a duration into hours and minutes for reading', () => {
    expect(durationParts(9000)).toEqual({ hours: 2, minutes: 30 })
    expect(durationParts(3600)).toEqual({ hours: 1, minutes: 0 })
    expect(durationParts(60)).toEqual({ hours: 0, minutes: 1 })
  })
})

describe('the groups API', () => {
  let gateway: MockAdapter
  beforeEach(() => {
    gateway = new MockAdapter(http)
  })
  afterEach(() => gateway.restore())

  it('creates with POST and edits with PATCH', async () => {
    gateway.onPost('/api/v1/groups').reply(201, nightly)
    gateway.onPatch('/api/v1/groups/g-1').reply(200, nightly)
    const body = formToBody(groupToForm(nightly))
    await createGroup(body)
    await updateGroup('g-1', body)
    expect(JSON.parse(gateway.history.post[0]?.data as string)).toEqual(body)
    expect(JSON.parse(gateway.history.patch[0]?.data as string)).toEqual(body)
  })

  it('adds the chosen servers in one request and says how many were new', async () => {
    gateway.onPost('/api/v1/groups/g-1/members').reply(200, { added: 1 })
    expect(await addMembers('g-1', ['s-1', 's-2'])).toEqual({ added: 1 })
    expect(gateway.history.post).toHaveLength(1)
    expect(JSON.parse(gateway.history.post[0]?.data as string)).toEqual({ server_ids: ['s-1', 's-2'] })
  })
})
