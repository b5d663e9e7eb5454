import { describe, expect, it } from 'vitest'

import { summarizeBatches } from '@/features/deployments/batches'
import { applyDeploymentRow, applyTargetRows, countsOf, newerDeployment, TargetIndex, TargetLedger } from '@/features/deployments/liveState'

import { deployment, target } from './deployments-fixtures'

const at = (second: number) => `2026-11-28T07:00:${String(second).padStart(2, '0')}Z`

describe('applying target events to the table', () => {
  it('replaces the row of that server with the newer state, in place', () => {
    const rows = [target({ server_id: 's1' }), target({ server_id: 's2', hostname: 'demo-deb-2' })]
    applyTargetRows(rows, [target({ server_id: 's2', state: 'installing', progress_percent: 40, updated_at: at(5) })], 0)

    expect(rows.map((row) => row.state)).toEqual(['pending', 'installing'])
    expect(rows[1]?.progress_percent).toBe(40)
  })

  it('ignores an event older than the row (the snapshot was read after it)', () => {
    const rows = [target({ state: 'succeeded', updated_at: at(9) })]
    applyTargetRows(rows, [target({ state: 'installing', updated_at: at(5) })], 0)
    expect(rows[0]?.state).toBe('succeeded')
  })

  it('never lets a late result of an old attempt overwrite the current one', () => {
    const rows = [target({ attempt: 2, state: 'pending', updated_at: at(1) })]
    applyTargetRows(rows, [target({ attempt: 1, state: 'failed', updated_at: at(30) })], 0)
    expect(rows[0]).toMatchObject({ attempt: 2, state: 'pending' })
    applyTargetRows(rows, [target({ attempt: 3, state: 'assigned', updated_at: at(0) })], 0)
    expect(rows[0]).toMatchObject({ attempt: 3, state: 'assigned' })
  })

  it('adds servers not on the page only where they surely belong, as many as there is room for', () => {
    const rows = [target({ server_id: 's1' })]
    expect(applyTargetRows(rows, [target({ server_id: 's9' })], 0)).toBe(0)
    expect(rows).toHaveLength(1)
    const added = applyTargetRows(rows, [target({ server_id: 's8' }), target({ server_id: 's1', state: 'assigned', updated_at: at(3) }), target({ server_id: 's9' })], 1)
    expect(added).toBe(1)
    expect(rows.map((row) => [row.server_id, row.state])).toEqual([
      ['s1', 'assigned'],
      ['s8', 'pending'],
    ])
  })

  it('lays the newest events over a snapshot read later but answered older', () => {
    const ledger = new TargetLedger()
    ledger.record(target({ server_id: 's1', state: 'installing', updated_at: at(4) }))
    ledger.record(target({ server_id: 's1', state: 'downloading', updated_at: at(3) }))
    const snapshot = [target({ server_id: 's1', state: 'assigned', updated_at: at(2) }), target({ server_id: 's2' })]

    expect(ledger.overlay(snapshot).map((row) => row.state)).toEqual(['installing', 'pending'])
  })
})

describe('applying deployment events', () => {
  it('takes the newer deployment and keeps the current one against an older event', () => {
    const current = deployment({ state: 'paused', updated_at: at(10) })
    expect(newerDeployment(current, deployment({ state: 'running', updated_at: at(5) })).state).toBe('paused')
    expect(newerDeployment(current, deployment({ state: 'running', updated_at: at(11) })).state).toBe('running')
    expect(newerDeployment(null, current)).toBe(current)
  })

  it('changes the row of that deployment in a list and leaves others alone', () => {
    const rows = [deployment({ id: 'a' }), deployment({ id: 'b' })]
    expect(applyDeploymentRow(rows, deployment({ id: 'b', state: 'succeeded', updated_at: at(30) }))).toBe(true)
    expect(rows.map((row) => row.state)).toEqual(['running', 'succeeded'])
    expect(applyDeploymentRow(rows, deployment({ id: 'c' }))).toBe(false)
  })
})

describe('the counts between deployment events', () => {
  it('keeps the counts of every target as events change them, newer wins, one lookup per event', () => {
    const states = ['pending', 'assigned', 'downloading', 'installing', 'succeeded', 'failed'] as const
    const fleet = Array.from({ length: 10_000 }, (_, n) => target({ server_id: `s${n}`, hostname: `node-${n}`, updated_at: at(0) }))
    const index = new TargetIndex()
    index.apply(fleet)
    const events = Array.from({ length: 30_000 }, (_, n) =>
      target({ server_id: `s${(n * 7919) % 10_000}`, state: states[n % states.length], updated_at: at(1 + (n % 50)) }),
    )
    const started = performance.now()
    for (let from = 0; from < events.length; from += 500) index.apply(events.slice(from, from + 500))
    const took = performance.now() - started

    expect(index.rows).toHaveLength(10_000)
    expect(index.counts()).toEqual(countsOf(index.rows))
    expect(index.get('s42')).toBe(index.rows[42])
    expect(index.apply([target({ server_id: 's42', state: 'failed', updated_at: at(0) })])).toBe(false)
    // A pass over the fleet per event would take seconds here.
    expect(took).toBeLessThan(1500)
  })

  it('tallies the current state of every target', () => {
    const counts = countsOf([
      target({ server_id: 'a', state: 'succeeded' }),
      target({ server_id: 'b', state: 'awaiting_approval' }),
      target({ server_id: 'c', state: 'skipped', batch: 0 }),
    ])
    expect(counts).toMatchObject({ total: 3, succeeded: 1, awaiting_approval: 1, skipped: 1, pending: 0 })
  })
})

describe('the batch timeline', () => {
  it('gives each batch its state, its done count and when it ran; skipped nodes are no batch', () => {
    const targets = [
      target({ server_id: 'a', batch: 1, state: 'succeeded', started_at: at(1), finished_at: at(5) }),
      target({ server_id: 'b', batch: 1, state: 'unchanged', started_at: at(2), finished_at: at(3) }),
      target({ server_id: 'c', batch: 2, state: 'installing', started_at: at(6) }),
      target({ server_id: 'd', batch: 2, state: 'pending' }),
      target({ server_id: 'e', batch: 0, state: 'skipped' }),
    ]
    const batches = summarizeBatches(deployment({ batch_count: 3, current_batch: 2 }), targets)

    expect(batches.map((batch) => [batch.batch, batch.status, batch.done, batch.total])).toEqual([
      [1, 'success', 2, 2],
      [2, 'process', 0, 2],
      [3, 'wait', 0, 0],
    ])
    expect(batches[0]).toMatchObject({ startedAt: at(1), finishedAt: at(5) })
    expect(batches[1]).toMatchObject({ startedAt: at(6), finishedAt: null })
  })

  it('marks a finished batch with a failed node as an error', () => {
    const targets = [target({ batch: 1, state: 'failed' }), target({ server_id: 'b', batch: 1, state: 'succeeded' })]
    const [first] = summarizeBatches(deployment({ batch_count: 1 }), targets)
    expect(first).toMatchObject({ status: 'error', failed: 1, done: 2 })
  })

  it('shows a batch that has begun but waits (a pause mid-batch) as in progress', () => {
    const targets = [target({ batch: 1, state: 'succeeded' }), target({ server_id: 'b', batch: 1, state: 'pending' })]
    expect(summarizeBatches(deployment({ batch_count: 1 }), targets)[0]?.status).toBe('process')
  })
})
