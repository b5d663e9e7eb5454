/** The creation form of a deployment: its fields, the checks the gateway makes (so most mistakes show
 * before sending), and the request body it becomes. */
import type { Action, DeploymentCreate, Strategy, Target } from '@/api/deployments'
import type { ScheduleIn, ScheduleOut, ScheduleUpdate } from '@/api/schedules'

export type TargetKind = 'server' | 'group' | 'all' | 'selector'
export type ScheduleMode = 'now' | 'at' | 'cron'
/** A count of nodes or a percentage of them; 0 leaves the scheduler's default. */
export type Amount = 'count' | 'percent'

export interface StrategyForm {
  batchBy: Amount
  batch: number
  failuresBy: Amount
  failures: number
  canary: boolean
  pauseSeconds: number
  requireApproval: boolean
}

export interface ScheduleForm {
  mode: ScheduleMode
  at: Date | null
  cron: string
  timezone: string
}

export interface DeployForm {
  software: string
  packageId: string
  action: Action
  /** With action rollback, optionally: the deployment to undo, which then gives package and target. */
  rollbackOf: string
  targetKind: TargetKind
  serverId: string
  groupId: string
  selector: string
  strategy: StrategyForm
  overrideWindow: boolean
  schedule: ScheduleForm
}

/** A message key of `deployments.check.*` with its parameters. */
export interface Problem {
  key: string
  params?: Record<string, number | string>
}

export type FormField =
  | 'package'
  | 'server'
  | 'group'
  | 'selector'
  | 'batch'
  | 'failures'
  | 'pauseSeconds'
  | 'at'
  | 'cron'
  | 'timezone'

export type FormProblems = Partial<Record<FormField, Problem>>

// The gateway's bounds (schemas_deployments.py, the selector parser and the schedule checks).
export const MAX_COUNT = 1_000_000
// Without a batch count or percentage the scheduler sends nodes ten at a time.
export const DEFAULT_BATCH_SIZE = 10
export const MAX_PAUSE_SECONDS = 86_400
const MAX_SELECTOR = 4096
const MAX_TERMS = 64
const AT_PAST_MS = 60_000
const AT_AHEAD_DAYS = 366

export function browserTimezone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
}

export function emptyStrategy(): StrategyForm {
  return { batchBy: 'count', batch: 0, failuresBy: 'count', failures: 0, canary: false, pauseSeconds: 0, requireApproval: false }
}

export function emptyForm(): DeployForm {
  return {
    software: '',
    packageId: '',
    action: 'install',
    rollbackOf: '',
    targetKind: 'group',
    serverId: '',
    groupId: '',
    selector: '',
    strategy: emptyStrategy(),
    overrideWindow: false,
    schedule: { mode: 'now', at: null, cron: '', timezone: browserTimezone() },
  }
}

/** The target as the API takes it; null until the chosen kind has what it needs. */
export function targetOf(form: Pick<DeployForm, 'targetKind' | 'serverId' | 'groupId' | 'selector'>): Target | null {
  switch (form.targetKind) {
    case 'server':
      return form.serverId ? { server_id: form.serverId } : null
    case 'group':
      return form.groupId ? { group_id: form.groupId } : null
    case 'all':
      return { all: true }
    case 'selector':
      return form.selector.trim() ? { selector: form.selector.trim() } : null
  }
}

/** Only what differs from the defaults: a count or its percentage, never both. */
export function strategyOf(form: StrategyForm): Partial<Strategy> {
  const strategy: Partial<Strategy> = {}
  if (form.batch > 0) strategy[form.batchBy === 'count' ? 'batch_size' : 'batch_percent'] = form.batch
  if (form.failures > 0) strategy[form.failuresBy === 'count' ? 'max_failures' : 'max_failure_percent'] = form.failures
  if (form.canary) strategy.canary = true
  if (form.pauseSeconds > 0) strategy.pause_between_batches_seconds = form.pauseSeconds
  if (form.requireApproval) strategy.require_approval = true
  return strategy
}

/** Undefined for "now"; a time goes as UTC ISO-8601 (the gateway wants an offset, Z is one). */
export function scheduleOf(form: ScheduleForm): ScheduleIn | undefined {
  if (form.mode === 'at' && form.at) return { at: form.at.toISOString() }
  if (form.mode === 'cron') return { cron: form.cron.trim().replace(/\s+/g, ' '), timezone: form.timezone }
  return undefined
}

/** The request body. A rollback takes package and target from the deployment it undoes and cannot be
 * scheduled; a dry run is never scheduled either. */
export function requestOf(form: DeployForm, dryRun = false): DeploymentCreate {
  const body: DeploymentCreate = { action: form.action }
  if (form.action === 'rollback' && form.rollbackOf) {
    body.rollback_deployment_id = form.rollbackOf
  } else {
    body.package_id = form.packageId
    const target = targetOf(form)
    if (target) body.target = target
  }
  const strategy = strategyOf(form.strategy)
  if (Object.keys(strategy).length) body.strategy = strategy
  if (form.overrideWindow) body.override_maintenance_window = true
  if (dryRun) body.dry_run = true
  const schedule = form.action === 'rollback' || dryRun ? undefined : scheduleOf(form.schedule)
  if (schedule) body.schedule = schedule
  return body
}

/** What the live preview asks: a dry run once a package (or the deployment to undo) is chosen, which
 * also says which nodes the package does not fit; before that only which servers the target means. */
export type PreviewRequest = { kind: 'dryRun'; body: DeploymentCreate } | { kind: 'resolve'; target: Target } | null

/** The strategy decides the batches, not which nodes resolve: it is left out, so changing it asks
 * nothing again, and the preview numbers the batches itself (batchSizeFor). */
function dryRunOf(form: DeployForm): DeploymentCreate {
  const body = requestOf(form, true)
  delete body.strategy
  return body
}

export function previewRequest(form: DeployForm): PreviewRequest {
  if (form.action === 'rollback' && form.rollbackOf) return { kind: 'dryRun', body: dryRunOf(form) }
  const target = targetOf(form)
  if (!target || (form.targetKind === 'selector' && selectorProblem(form.selector))) return null
  return form.packageId ? { kind: 'dryRun', body: dryRunOf(form) } : { kind: 'resolve', target }
}

/** Nodes per batch as the scheduler plans them: the count, or the percentage of the nodes that will
 * run (at least one), or its default. */
export function batchSizeFor(strategy: StrategyForm, runnable: number): number {
  if (strategy.batch <= 0) return DEFAULT_BATCH_SIZE
  if (strategy.batchBy === 'count') return strategy.batch
  return Math.max(1, Math.ceil((runnable * strategy.batch) / 100))
}

/** What the selector parser refuses for its shape; which keys and values exist the gateway says. */
export function selectorProblem(text: string): Problem | null {
  const selector = text.trim()
  if (!selector) return { key: 'selectorRequired' }
  if (selector.length > MAX_SELECTOR) return { key: 'selectorTooLong', params: { max: MAX_SELECTOR } }
  const terms = selector.split(',')
  if (terms.length > MAX_TERMS) return { key: 'selectorTooManyTerms', params: { max: MAX_TERMS } }
  const bad = terms.find((term) => {
    const [key = '', ...rest] = term.split('=')
    return rest.length !== 1 || !key.replace(/!$/, '').trim()
  })
  return bad === undefined ? null : { key: 'selectorTerm', params: { term: bad.trim() } }
}

function targetProblems(form: DeployForm): FormProblems {
  if (form.targetKind === 'server' && !form.serverId) return { server: { key: 'serverRequired' } }
  if (form.targetKind === 'group' && !form.groupId) return { group: { key: 'groupRequired' } }
  if (form.targetKind === 'selector') {
    const problem = selectorProblem(form.selector)
    if (problem) return { selector: problem }
  }
  return {}
}

function amountProblem(value: number, by: Amount): Problem | null {
  const max = by === 'percent' ? 100 : MAX_COUNT
  if (!Number.isInteger(value) || value < 0 || value > max) return { key: 'amountRange', params: { max } }
  return null
}

export function strategyProblems(strategy: StrategyForm): FormProblems {
  const problems: FormProblems = {}
  const batch = amountProblem(strategy.batch, strategy.batchBy)
  const failures = amountProblem(strategy.failures, strategy.failuresBy)
  if (batch) problems.batch = batch
  if (failures) problems.failures = failures
  const pause = strategy.pauseSeconds
  if (!Number.isInteger(pause) || pause < 0 || pause > MAX_PAUSE_SECONDS) {
    problems.pauseSeconds = { key: 'pauseRange', params: { max: MAX_PAUSE_SECONDS } }
  }
  return problems
}

/** A run time may lie a minute in the past (clocks differ) and at most 366 days ahead. */
export function scheduleProblems(schedule: ScheduleForm, now: Date): FormProblems {
  if (schedule.mode === 'at') {
    if (!schedule.at) return { at: { key: 'atRequired' } }
    const at = schedule.at.getTime()
    if (at < now.getTime() - AT_PAST_MS) return { at: { key: 'atPast' } }
    if (at > now.getTime() + AT_AHEAD_DAYS * 86_400_000) return { at: { key: 'atTooFar', params: { days: AT_AHEAD_DAYS } } }
  }
  if (schedule.mode === 'cron') {
    const fields = schedule.cron.trim().split(/\s+/).filter(Boolean)
    if (fields.length !== 5) return { cron: { key: 'cronFields' } }
    if (!schedule.timezone.trim()) return { timezone: { key: 'timezoneRequired' } }
  }
  return {}
}

/** Every problem of the form, by field; empty when it may be sent. A rollback is never scheduled, and
 * one that undoes a deployment takes package and target from it. */
export function formProblems(form: DeployForm, now: Date = new Date()): FormProblems {
  const strategy = strategyProblems(form.strategy)
  if (form.action === 'rollback' && form.rollbackOf) return strategy
  return {
    ...(form.packageId ? {} : { package: { key: 'packageRequired' } }),
    ...targetProblems(form),
    ...strategy,
    ...(form.action === 'rollback' ? {} : scheduleProblems(form.schedule, now)),
  }
}

/** The strategy of an existing deployment or schedule, as the form shows it. */
export function strategyFormOf(strategy: Strategy): StrategyForm {
  return {
    batchBy: strategy.batch_percent ? 'percent' : 'count',
    batch: strategy.batch_percent || strategy.batch_size,
    failuresBy: strategy.max_failure_percent ? 'percent' : 'count',
    failures: strategy.max_failure_percent || strategy.max_failures,
    canary: strategy.canary,
    pauseSeconds: strategy.pause_between_batches_seconds,
    requireApproval: strategy.require_approval,
  }
}

/** When an existing schedule runs, as the form shows it. */
export function scheduleFormOf(schedule: ScheduleOut): ScheduleForm {
  if (schedule.at) return { mode: 'at', at: new Date(schedule.at), cron: '', timezone: browserTimezone() }
  return { mode: 'cron', at: null, cron: schedule.cron ?? '', timezone: schedule.timezone || 'UTC' }
}

/** A schedule's change: its whole strategy (a field left at its default goes back to it), and its time
 * only when that changed, so an unchanged time is not checked again. */
export function scheduleUpdateOf(schedule: ScheduleForm, strategy: StrategyForm, before: ScheduleOut): ScheduleUpdate {
  const update: ScheduleUpdate = { strategy: strategyOf(strategy) }
  const when = scheduleOf(schedule)
  const same = when?.at
    ? before.at !== null && Date.parse(before.at) === Date.parse(when.at)
    : when?.cron === before.cron && when?.timezone === before.timezone
  if (when && !same) update.schedule = when
  return update
}
