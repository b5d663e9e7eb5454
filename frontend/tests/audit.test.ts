import { flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import type { AuditRecord } from '@/api/audit'
import { http } from '@/api/client'
import AuditPage from '@/features/audit/AuditPage.vue'
import { actionSuggestions, auditQuery, emptyFilters } from '@/features/audit/auditFilters'
import { createConsoleI18n } from '@/i18n'

function record(id: number, action: string, requestId = `req-${id}`): AuditRecord {
  return {
    id,
    time: '2026-11-28T07:00:00Z',
    source: 'auth',
    actor: 'user:admin',
    action,
    target: 'user:bob',
    result: 'success',
    reason: 'role=viewer',
    request_id: requestId,
    client_address: '127.0.0.1',
    prev_hash: 'a'.repeat(64),
    hash: 'b'.repeat(64),
  }
}

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
}

function mountPage() {
  localStorage.setItem('convoy.locale', 'en')
  return mount(AuditPage, { global: { plugins: [createConsoleI18n()] }, attachTo: document.body })
}

describe('the audit filters', () => {
  it('send nothing when empty', () => {
    expect(auditQuery(emptyFilters())).toEqual({})
  })

  it('become the API’s query: trimmed, a bare actor taken as a user, the result as it is', () => {
    const query = auditQuery({
      ...emptyFilters(),
      actor: ' alice ',
      action: ' user. ',
      target: 'user:bob',
      result: 'denied',
      requestId: ' abc ',
    })
    expect(query).toEqual({ actor: 'user:alice', action: 'user.', target: 'user:bob', result: 'denied', request_id: 'abc' })
    expect(auditQuery({ ...emptyFilters(), actor: 'service:scheduler' }).actor).toBe('service:scheduler')
  })

  it('send the time range as ISO instants, the last second picked included', () => {
    const from = new Date(2026, 10, 28, 0, 0, 0)
    const to = new Date(2026, 10, 28, 23, 59, 59)
    const query = auditQuery({ ...emptyFilters(), range: [from, to] })
    expect(query.since).toBe(from.toISOString())
    expect(new Date(query.until ?? '').getTime()).toBe(new Date(2026, 10, 29, 0, 0, 0).getTime())
    expect(query.until).toMatch(/Z$/)
  })

  it('suggest prefixes and the actions seen that match what is typed', () => {
    expect(actionSuggestions('dep', [])).toEqual(['deployment.'])
    expect(actionSuggestions('login', ['auth.login', 'auth.login', 'user.create'])).toEqual(['auth.login'])
  })
})

// The first mount compiles Element Plus's components, which takes a while on a busy machine.
describe('the audit page', { timeout: 20_000 }, () => {
  let gateway: MockAdapter

  beforeEach(() => {
    localStorage.clear()
    gateway = new MockAdapter(http)
  })
  afterEach(() => {
    gateway.restore()
    document.body.innerHTML = ''
  })

  it('lists records and asks again with the filters typed', async () => {
    gateway.onGet('/api/v1/audit').reply(200, { items: [record(2, 'user.create'), record(1, 'auth.login')], next_page_token: '' })
    const wrapper = mountPage()
    await settled()
    const rows = wrapper.findAll('[data-test="audit-row"]')
    expect(rows.map((row) => row.attributes('data-action'))).toEqual(['user.create', 'auth.login'])
    expect(rows[0].find('[data-state="success"]').text()).toBe('Success')

    await wrapper.find('input[data-test="audit-filter-actor"]').setValue('admin')
    await wrapper.find('input[data-test="audit-filter-actor"]').trigger('keyup', { key: 'Enter' })
    await settled()
    expect(gateway.history.get.at(-1)?.params).toMatchObject({ actor: 'user:admin', page_token: '' })
  })

  it('shows the chain intact with the number of records checked', async () => {
    gateway.onGet('/api/v1/audit').reply(200, { items: [], next_page_token: '' })
    gateway.onGet('/api/v1/audit/verify').reply(200, { ok: true, records_checked: 16, first_bad_id: 0, reason: '' })
    const wrapper = mountPage()
    await settled()
    expect(wrapper.text()).toContain('No audit records yet')
    await wrapper.find('[data-test="audit-verify"]').trigger('click')
    await settled()
    const result = wrapper.find('[data-test="audit-verify-result"]')
    expect(result.attributes('data-state')).toBe('intact')
    expect(result.text()).toContain('16 records checked')
  })

  it('names the first record where the chain breaks', async () => {
    gateway.onGet('/api/v1/audit').reply(200, { items: [], next_page_token: '' })
    gateway.onGet('/api/v1/audit/verify').reply(200, {
      ok: false,
      records_checked: 7,
      first_bad_id: 7,
      reason: 'record content does not match its hash',
    })
    const wrapper = mountPage()
    await settled()
    await wrapper.find('[data-test="audit-verify"]').trigger('click')
    await settled()
    const result = wrapper.find('[data-test="audit-verify-result"]')
    expect(result.attributes('data-state')).toBe('broken')
    expect(result.text()).toContain('breaks at record 7')
    expect(result.text()).toContain('record content does not match its hash')
  })
})
