import { describe, expect, it } from 'vitest'

import {
  batchSizeFor,
  emptyForm,
  formProblems,
  previewRequest,
  requestOf,
  scheduleFormOf,
  scheduleUpdateOf,
  selectorProblem,
  strategyFormOf,
  type DeployForm,
} from '@/features/deployments/deployForm'

import { deployment } from './deployments-fixtures'

const NOW = new Date('2026-11-28T08:00:00Z')

function form(given: Partial<DeployForm> = {}): DeployForm {
  return { ...emptyForm(), software: 'deployments-hello', packageId: 'p1', groupId: 'g1', ...given }
}

describe('the request a deployment form makes', () => {
  it('sends only package, action and target when the defaults are kept', () => {
    expect(requestOf(form())).toEqual({ package_id: 'p1', action: 'install', target: { group_id: 'g1' } })
  })

  it('sends the one target field of the chosen kind', () => {
    expect(requestOf(form({ targetKind: 'server', serverId: 's1' })).target).toEqual({ server_id: 's1' })
    expect(requestOf(form({ targetKind: 'all' })).target).toEqual({ all: true })
    expect(requestOf(form({ targetKind: 'selector', selector: ' os_family=deb,category=web ' })).target).toEqual({
      selector: 'os_family=deb,category=web',
    })
  })

  it('sends a batch as a count or a percentage, never both, with the rest of the strategy', () => {
    const strategy = { batchBy: 'percent', batch: 25, failuresBy: 'count', failures: 2, canary: true, pauseSeconds: 60, requireApproval: true } as const
    expect(requestOf(form({ strategy, overrideWindow: true }))).toMatchObject({
      strategy: {
        batch_percent: 25,
        max_failures: 2,
        canary: true,
        pause_between_batches_seconds: 60,
        require_approval: true,
      },
      override_maintenance_window: true,
    })
    expect(requestOf(form({ strategy })).strategy).not.toHaveProperty('batch_size')
  })

  it('sends a time as UTC ISO-8601, and a cron with its timezone', () => {
    const at = new Date('2026-12-01T02:00:00+08:00')
    expect(requestOf(form({ schedule: { mode: 'at', at, cron: '', timezone: 'Asia/Shanghai' } })).schedule).toEqual({
      at: '2026-11-30T18:00:00.000Z',
    })
    expect(requestOf(form({ schedule: { mode: 'cron', at: null, cron: ' 0  2 * * 6 ', timezone: 'Asia/Shanghai' } })).schedule).toEqual({
      cron: '0 2 * * 6',
      timezone: 'Asia/Shanghai',
    })
  })

  it('undoes a deployment by its id alone and never schedules a rollback', () => {
    const rollback = form({ action: 'rollback', rollbackOf: 'd7', schedule: { mode: 'cron', at: null, cron: '0 2 * * 6', timezone: 'UTC' } })
    expect(requestOf(rollback)).toEqual({ action: 'rollback', rollback_deployment_id: 'd7' })
  })

  it('previews with a dry run once a package is chosen, else only resolves the target', () => {
    expect(previewRequest(form())).toEqual({ kind: 'dryRun', body: { package_id: 'p1', action: 'install', target: { group_id: 'g1' }, dry_run: true } })
    expect(previewRequest(form({ packageId: '' }))).toEqual({ kind: 'resolve', target: { group_id: 'g1' } })
    expect(previewRequest(form({ groupId: '' }))).toBeNull()
    expect(previewRequest(form({ targetKind: 'selector', selector: 'bogus' }))).toBeNull()
    const scheduled = form({ schedule: { mode: 'at', at: new Date(), cron: '', timezone: 'UTC' } })
    expect(previewRequest(scheduled)).toMatchObject({ body: { dry_run: true } })
    expect(previewRequest(scheduled)).not.toHaveProperty('body.schedule')
  })

  it('asks the same preview whatever the strategy: it changes the batches, not the nodes', () => {
    const strategy = { batchBy: 'percent', batch: 25, failuresBy: 'count', failures: 2, canary: true, pauseSeconds: 60, requireApproval: true } as const
    expect(previewRequest(form({ strategy }))).toEqual(previewRequest(form()))
    expect(previewRequest(form({ action: 'rollback', rollbackOf: 'd7', strategy }))).toEqual({
      kind: 'dryRun',
      body: { action: 'rollback', rollback_deployment_id: 'd7', dry_run: true },
    })
  })

  it('numbers the batches as the scheduler plans them', () => {
    const strategy = emptyForm().strategy
    expect(batchSizeFor(strategy, 95)).toBe(10)
    expect(batchSizeFor({ ...strategy, batch: 3 }, 95)).toBe(3)
    expect(batchSizeFor({ ...strategy, batchBy: 'percent', batch: 10 }, 95)).toBe(10)
    expect(batchSizeFor({ ...strategy, batchBy: 'percent', batch: 1 }, 20)).toBe(1)
  })
})

describe('the checks of a deployment form', () => {
  it('accepts a complete form', () => {
    expect(formProblems(form(), NOW)).toEqual({})
  })

  it('asks for a package and the target of the chosen kind', () => {
    expect(formProblems(form({ packageId: '', groupId: '' }), NOW)).toEqual({
      package: { key: 'packageRequired' },
      group: { key: 'groupRequired' },
    })
    expect(formProblems(form({ targetKind: 'server' }), NOW)).toEqual({ server: { key: 'serverRequired' } })
  })

  it('checks a selector the way the gateway parses it', () => {
    expect(selectorProblem('os_family=deb, env!=prod')).toBeNull()
    expect(selectorProblem('  ')).toEqual({ key: 'selectorRequired' })
    expect(selectorProblem('bogus')).toEqual({ key: 'selectorTerm', params: { term: 'bogus' } })
    expect(selectorProblem('a=b=c')).toMatchObject({ key: 'selectorTerm' })
    expect(selectorProblem('=x')).toMatchObject({ key: 'selectorTerm' })
    expect(selectorProblem(Array(65).fill('a=b').join(','))).toMatchObject({ key: 'selectorTooManyTerms' })
  })

  it('refuses a percentage over 100 and a pause over a day', () => {
    const strategy = { ...emptyForm().strategy, batchBy: 'percent' as const, batch: 120, pauseSeconds: 90_000 }
    expect(formProblems(form({ strategy }), NOW)).toEqual({
      batch: { key: 'amountRange', params: { max: 100 } },
      pauseSeconds: { key: 'pauseRange', params: { max: 86_400 } },
    })
  })

  it('takes a time a minute in the past at most, up to 366 days ahead, and a five-field cron', () => {
    const when = (at: Date) => formProblems(form({ schedule: { mode: 'at', at, cron: '', timezone: 'UTC' } }), NOW)
    expect(when(new Date(NOW.getTime() - 30_000))).toEqual({})
    expect(when(new Date(NOW.getTime() - 120_000))).toEqual({ at: { key: 'atPast' } })
    expect(when(new Date(NOW.getTime() + 367 * 86_400_000))).toMatchObject({ at: { key: 'atTooFar' } })
    const cron = (text: string) => formProblems(form({ schedule: { mode: 'cron', at: null, cron: text, timezone: 'UTC' } }), NOW)
    expect(cron('0 2 * * 6')).toEqual({})
    expect(cron('@daily')).toEqual({ cron: { key: 'cronFields' } })
  })

  it('needs only the deployment to undo for a rollback of one', () => {
    expect(formProblems(form({ action: 'rollback', rollbackOf: 'd7', packageId: '', groupId: '' }), NOW)).toEqual({})
    expect(formProblems(form({ action: 'rollback', packageId: '' }), NOW)).toEqual({ package: { key: 'packageRequired' } })
  })
})

describe('editing a schedule', () => {
  it('shows the strategy it has and sends it back unchanged', () => {
    const strategy = { ...deployment().strategy, batch_size: 0, batch_percent: 20, max_failures: 3, canary: true }
    const shown = strategyFormOf(strategy)
    expect(shown).toMatchObject({ batchBy: 'percent', batch: 20, failuresBy: 'count', failures: 3, canary: true })
    const before = { at: null, cron: '0 2 * * 6', timezone: 'Asia/Shanghai' }
    expect(scheduleUpdateOf(scheduleFormOf(before), shown, before)).toEqual({
      strategy: { batch_percent: 20, max_failures: 3, canary: true },
    })
  })

  it('sends the time only when it changed', () => {
    const before = { at: '2026-12-01T02:00:00Z', cron: null, timezone: null }
    const when = scheduleFormOf(before)
    expect(scheduleUpdateOf(when, strategyFormOf(deployment().strategy), before)).not.toHaveProperty('schedule')
    const later = { ...when, at: new Date('2026-12-02T02:00:00Z') }
    expect(scheduleUpdateOf(later, strategyFormOf(deployment().strategy), before).schedule).toEqual({ at: '2026-12-02T02:00:00.000Z' })
  })
})
