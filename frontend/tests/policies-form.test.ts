import { describe, expect, it } from 'vitest'

import type { Policy } from '@/api/policies'
import { emptyForm, formToCreate, formToUpdate, policyToForm, targetComplete } from '@/features/policies/policyForm'

function policy(overrides: Partial<Policy> = {}): Policy {
  return {
    id: 'p1',
    name: 'nginx on web',
    target: { server_id: null, group_id: 'g-web', all: null, selector: null },
    software_name: 'nginx',
    version: '1.24.0-1',
    state: 'present',
    strategy: {
      batch_size: 0,
      batch_percent: 25,
      max_failures: 1,
      max_failure_percent: 0,
      canary: true,
      pause_between_batches_seconds: 30,
      require_approval: false,
    },
    mode: 'enforce',
    enabled: true,
    created_by: 'admin',
    created_at: null,
    updated_at: null,
    ...overrides,
  }
}

describe('the policy form as a create body', () => {
  it('sends every field the user set, with the strategy as counts or percentages', () => {
    const form = {
      ...emptyForm(),
      name: '  nginx on web ',
      groupId: 'g-web',
      softwareName: 'Nginx',
      version: ' 1.24.0-1 ',
      mode: 'report' as const,
      batchKind: 'percent' as const,
      batch: 25,
      failures: 1,
      canary: true,
      pauseSeconds: 30,
    }
    expect(formToCreate(form)).toEqual({
      name: 'nginx on web',
      target: { group_id: 'g-web' },
      software_name: 'nginx',
      version: '1.24.0-1',
      state: 'present',
      strategy: {
        batch_size: 0,
        batch_percent: 25,
        max_failures: 1,
        max_failure_percent: 0,
        canary: true,
        pause_between_batches_seconds: 30,
        require_approval: false,
      },
      mode: 'report',
      enabled: true,
    })
  })

  it('wants the latest version unless told otherwise, and no version at all for absent', () => {
    const form = { ...emptyForm(), name: 'x', targetKind: 'all' as const, softwareName: 'redis' }
    expect(formToCreate(form)).toMatchObject({ target: { all: true }, version: 'latest', state: 'present' })
    const absent = formToCreate({ ...form, state: 'absent', version: '7.2' })
    expect(absent.state).toBe('absent')
    expect('version' in absent).toBe(false)
  })

  it('sends only the chosen kind of target, a selector without stray blanks', () => {
    const form = { ...emptyForm(), groupId: 'g1', serverId: 's1', targetKind: 'selector' as const, selector: ' env=prod , arch=x86_64 ,' }
    expect(formToCreate(form).target).toEqual({ selector: 'env=prod,arch=x86_64' })
    expect(formToCreate({ ...form, targetKind: 'server' }).target).toEqual({ server_id: 's1' })
  })

  it('takes a target as complete only when it points somewhere', () => {
    expect(targetComplete(emptyForm())).toBe(false)
    expect(targetComplete({ ...emptyForm(), targetKind: 'selector', selector: ' , ' })).toBe(false)
    expect(targetComplete({ ...emptyForm(), targetKind: 'all' })).toBe(true)
  })
})

describe('editing a policy', () => {
  it('fills the form with the policy as it is', () => {
    expect(policyToForm(policy())).toMatchObject({
      name: 'nginx on web',
      targetKind: 'group',
      groupId: 'g-web',
      softwareName: 'nginx',
      version: '1.24.0-1',
      batchKind: 'percent',
      batch: 25,
      failureKind: 'count',
      failures: 1,
      canary: true,
      pauseSeconds: 30,
    })
    expect(policyToForm(policy({ state: 'absent', version: null })).version).toBe('latest')
  })

  it('sends nothing when nothing changed', () => {
    expect(formToUpdate(policyToForm(policy()), policy())).toEqual({})
  })

  it('sends only what changed', () => {
    const form = { ...policyToForm(policy()), version: 'latest', mode: 'report' as const }
    expect(formToUpdate(form, policy())).toEqual({ version: 'latest', mode: 'report' })
  })

  it('drops the version when switching to absent and sends one when switching back', () => {
    const toAbsent = formToUpdate({ ...policyToForm(policy()), state: 'absent' }, policy())
    expect(toAbsent).toEqual({ state: 'absent' })

    const absent = policy({ state: 'absent', version: null })
    const toPresent = formToUpdate({ ...policyToForm(absent), state: 'present', version: 'latest' }, absent)
    expect(toPresent).toEqual({ state: 'present', version: 'latest' })
  })

  it('replaces the whole strategy when any part of it changed', () => {
    const form = { ...policyToForm(policy()), failureKind: 'percent' as const, failures: 10 }
    expect(formToUpdate(form, policy())).toEqual({
      strategy: {
        batch_size: 0,
        batch_percent: 25,
        max_failures: 0,
        max_failure_percent: 10,
        canary: true,
        pause_between_batches_seconds: 30,
        require_approval: false,
      },
    })
  })

  it('sends a new target whole, and a new name trimmed', () => {
    const form = { ...policyToForm(policy()), name: ' nginx everywhere ', targetKind: 'all' as const }
    expect(formToUpdate(form, policy())).toEqual({ name: 'nginx everywhere', target: { all: true } })
  })
})
