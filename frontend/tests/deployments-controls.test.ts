import { mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { http } from '@/api/client'
import type { DeploymentState } from '@/api/deployments'
import { applicableControls, selectedFor } from '@/features/deployments/controls'
import DeploymentControls from '@/features/deployments/DeploymentControls.vue'
import { createConsoleI18n } from '@/i18n'

import { counts, deployment, settled, target } from './deployments-fixtures'

describe('which controls apply', () => {
  const cases: [DeploymentState, string[]][] = [
    ['scheduled', ['cancel']],
    ['pending', ['pause', 'cancel']],
    ['running', ['pause', 'cancel']],
    ['paused', ['resume', 'cancel']],
    ['succeeded', []],
    ['failed', []],
    ['cancelled', []],
  ]

  it.each(cases)('a %s deployment without failures or approvals: %j', (state, expected) => {
    expect(applicableControls(deployment({ state }))).toEqual(expected)
  })

  it('offers retry only with failed nodes, and never on a cancelled or scheduled deployment', () => {
    const failed = counts({ failed: 1, succeeded: 2 })
    expect(applicableControls(deployment({ state: 'failed', counts: failed }))).toEqual(['retry'])
    expect(applicableControls(deployment({ state: 'succeeded', counts: failed }))).toEqual(['retry'])
    expect(applicableControls(deployment({ state: 'paused', counts: failed }))).toEqual(['resume', 'cancel', 'retry'])
    expect(applicableControls(deployment({ state: 'cancelled', counts: failed }))).toEqual([])
  })

  it('offers approve only when approval is required and some node waits for it or is on its way', () => {
    const strategy = { ...deployment().strategy, require_approval: true }
    const waiting = deployment({ strategy, counts: counts({ awaiting_approval: 1 }) })
    expect(applicableControls(waiting)).toContain('approve')
    expect(applicableControls({ ...waiting, counts: counts({ downloading: 1 }) })).toContain('approve')
    expect(applicableControls({ ...waiting, counts: counts({ succeeded: 2 }) })).not.toContain('approve')
    expect(applicableControls({ ...waiting, state: 'succeeded' })).not.toContain('approve')
    expect(applicableControls(deployment({ counts: counts({ awaiting_approval: 1 }) }))).not.toContain('approve')
  })

  it('narrows a selection to the nodes the control applies to', () => {
    const rows = [
      target({ server_id: 'a', state: 'failed' }),
      target({ server_id: 'b', state: 'awaiting_approval' }),
      target({ server_id: 'c', state: 'succeeded' }),
    ]
    expect(selectedFor('retry', rows)).toEqual(['a'])
    expect(selectedFor('approve', rows)).toEqual(['b'])
    expect(selectedFor('retry', [])).toEqual([])
  })
})

describe('the control buttons', { timeout: 20_000 }, () => {
  let gateway: MockAdapter

  beforeEach(() => {
    localStorage.setItem('convoy.locale', 'en')
    gateway = new MockAdapter(http)
  })
  afterEach(() => gateway.restore())

  function mountControls(props: Parameters<typeof deployment>[0], selected = [target()]) {
    return mount(DeploymentControls, {
      props: { deployment: deployment(props), selected },
      global: { plugins: [createConsoleI18n()] },
    })
  }

  function enabled(wrapper: ReturnType<typeof mountControls>): string[] {
    return wrapper
      .findAll('button[data-test^="deployment-"]')
      .filter((button) => button.attributes('disabled') === undefined)
      .map((button) => button.attributes('data-test') ?? '')
  }

  it('enables only what the state allows, and resumes a paused deployment at once', async () => {
    gateway.onPost('/api/v1/deployments/d1/resume').reply(200, deployment({ state: 'running' }))
    const wrapper = mountControls({ state: 'paused' })
    expect(enabled(wrapper)).toEqual(['deployment-resume', 'deployment-cancel'])

    await wrapper.get('[data-test="deployment-resume"]').trigger('click')
    await settled()

    expect(wrapper.emitted('changed')?.[0]?.[0]).toMatchObject({ state: 'running' })
  })

  it('retries only the failed nodes the user selected, and says so on the button', async () => {
    let sent: unknown = null
    gateway.onPost('/api/v1/deployments/d1/retry').reply((config) => {
      sent = JSON.parse(config.data)
      return [200, { deployment: deployment({ state: 'running' }), retried: 1 }]
    })
    const selected = [target({ server_id: 's1', state: 'failed' }), target({ server_id: 's2', state: 'succeeded' })]
    const wrapper = mountControls({ state: 'failed', counts: counts({ failed: 1, succeeded: 1 }) }, selected)
    const retry = wrapper.get('[data-test="deployment-retry"]')
    expect(retry.text()).toBe('Retry 1 selected')

    await retry.trigger('click')
    await settled()

    expect(sent).toEqual({ server_ids: ['s1'] })
  })
})
