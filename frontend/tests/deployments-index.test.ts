import { flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, ref, shallowRef } from 'vue'

import { http } from '@/api/client'
import type { DeploymentTarget } from '@/api/deployments'
import { frameQueue } from '@/features/deployments/frames'
import { TargetLedger } from '@/features/deployments/liveState'
import { useTargetIndex } from '@/features/deployments/useTargets'
import { createConsoleI18n } from '@/i18n'

import { target } from './deployments-fixtures'

const at = (second: number) => `2026-11-28T07:00:${String(second).padStart(2, '0')}Z`

/** The index in a page that shows how many targets it has, counting its renders. */
function mountIndex() {
  const ledger = shallowRef(new TargetLedger())
  const renders: number[] = []
  let index!: ReturnType<typeof useTargetIndex>
  const Host = defineComponent({
    setup() {
      index = useTargetIndex(ref('d1'), ledger)
      return () => {
        renders.push(index.targets.value.length)
        return null
      }
    },
  })
  const wrapper = mount(Host, { global: { plugins: [createConsoleI18n()] } })
  return { wrapper, ledger: ledger.value, index, renders }
}

describe('the index of every target of a deployment', () => {
  let gateway: MockAdapter

  beforeEach(() => {
    gateway = new MockAdapter(http)
  })
  afterEach(() => gateway.restore())

  it('keeps an event that arrived while later pages were read over the older page it was on', async () => {
    const { wrapper, ledger, index } = mountIndex()
    gateway.onGet('/api/v1/deployments/d1/targets').reply((config) => {
      if (!config.params.page_token) {
        return [200, { items: [target({ server_id: 's1', state: 'pending', updated_at: at(1) })], next_page_token: 'p2', total: 2 }]
      }
      // While the second page is read, the node of the first one moves on.
      ledger.record(target({ server_id: 's1', state: 'installing', updated_at: at(5) }))
      return [200, { items: [target({ server_id: 's2', hostname: 'demo-deb-2', updated_at: at(1) })], next_page_token: '', total: 2 }]
    })
    await index.load()

    expect(index.find('s1')?.state).toBe('installing')
    expect(index.counts.value).toMatchObject({ total: 2, installing: 1, pending: 1 })
    wrapper.unmount()
  })

  it('follows events with its counts, and tells its readers once per batch of events', async () => {
    const { wrapper, index, renders } = mountIndex()
    gateway.onGet('/api/v1/deployments/d1/targets').reply(200, {
      items: [target({ server_id: 's1' }), target({ server_id: 's2', hostname: 'demo-deb-2' })],
      next_page_token: '',
      total: 2,
    })
    await index.load()
    await flushPromises()
    const before = renders.length
    index.apply([
      target({ server_id: 's1', state: 'succeeded', updated_at: at(9) }),
      target({ server_id: 's2', state: 'failed', updated_at: at(9) }),
    ])
    await flushPromises()

    expect(index.counts.value).toMatchObject({ total: 2, succeeded: 1, failed: 1, pending: 0 })
    expect(renders).toHaveLength(before + 1)
    wrapper.unmount()
  })
})

describe('events applied once per frame', () => {
  it('hands on a burst of changes together, the newest per node', async () => {
    const flushed: DeploymentTarget[][] = []
    const queue = frameQueue<DeploymentTarget>((item) => item.server_id, (batch) => flushed.push(batch))
    queue.push(target({ server_id: 's1', state: 'assigned' }))
    queue.push(target({ server_id: 's2', state: 'assigned' }))
    queue.push(target({ server_id: 's1', state: 'installing' }))
    expect(flushed).toEqual([])
    await vi.waitFor(() => expect(flushed).toHaveLength(1))

    expect(flushed[0]?.map((item) => [item.server_id, item.state])).toEqual([
      ['s1', 'installing'],
      ['s2', 'assigned'],
    ])
    queue.push(target({ server_id: 's3' }))
    await vi.waitFor(() => expect(flushed).toHaveLength(2))
  })

  it('applies them without animation frames too, and drops them when cleared', async () => {
    vi.stubGlobal('requestAnimationFrame', undefined)
    const flushed: DeploymentTarget[][] = []
    const queue = frameQueue<DeploymentTarget>((item) => item.server_id, (batch) => flushed.push(batch))
    queue.push(target({ server_id: 's1' }))
    await vi.waitFor(() => expect(flushed).toHaveLength(1))
    queue.push(target({ server_id: 's2' }))
    queue.clear()
    await new Promise((resolve) => setTimeout(resolve, 300))

    expect(flushed).toHaveLength(1)
    vi.unstubAllGlobals()
  })
})
