import { flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { nextTick, reactive } from 'vue'

import { http } from '@/api/client'
import { emptyForm, type DeployForm } from '@/features/deployments/deployForm'
import TargetPreview from '@/features/deployments/TargetPreview.vue'
import { PREVIEW_DELAY_MS } from '@/features/deployments/usePreview'
import { createConsoleI18n } from '@/i18n'

const FLEET = 10_000

function node(n: number) {
  return { server_id: `s${n}`, hostname: `node-${String(n).padStart(5, '0')}`, installed_version: '', batch: 1 }
}

async function answered(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, PREVIEW_DELAY_MS + 50))
  await flushPromises()
  await nextTick()
}

describe('the preview of a deployment to a whole fleet', { timeout: 20_000 }, () => {
  let gateway: MockAdapter
  let dryRuns = 0

  beforeEach(() => {
    localStorage.setItem('convoy.locale', 'en')
    gateway = new MockAdapter(http)
    dryRuns = 0
    gateway.onPost('/api/v1/deployments').reply(() => {
      dryRuns += 1
      const resolved = Array.from({ length: FLEET }, (_, n) => node(n))
      const incompatible = Array.from({ length: 150 }, (_, n) => ({ server_id: `x${n}`, hostname: `rpm-${n}`, reason: 'rpm' }))
      return [200, { deployment: null, resolved, incompatible, schedule: null }]
    })
  })
  afterEach(() => gateway.restore())

  it('counts every node, lists the first hundred of each list, and says how many more there are', async () => {
    const form = reactive<DeployForm>({ ...emptyForm(), packageId: 'p1', targetKind: 'all' })
    const wrapper = mount(TargetPreview, { props: { form }, global: { plugins: [createConsoleI18n()] } })
    await answered()

    expect(wrapper.get('[data-test="preview-resolved-count"]').text()).toContain('10000')
    expect(wrapper.get('[data-test="preview-incompatible-count"]').text()).toContain('150')
    expect(wrapper.findAll('[data-test="preview-resolved"]')).toHaveLength(100)
    expect(wrapper.findAll('[data-test="preview-incompatible"]')).toHaveLength(100)
    expect(wrapper.get('[data-test="preview-more"]').text()).toBe('and 9900 more')
    expect(wrapper.get('[data-test="preview-incompatible-more"]').text()).toBe('and 50 more')
    expect(wrapper.get('[data-test="preview-batch-count"]').text()).toContain('1000')
    wrapper.unmount()
  })

  it('renumbers the batches when the strategy changes, without a new dry run', async () => {
    const form = reactive<DeployForm>({ ...emptyForm(), packageId: 'p1', targetKind: 'all' })
    const wrapper = mount(TargetPreview, { props: { form }, global: { plugins: [createConsoleI18n()] } })
    await answered()
    form.strategy.batchBy = 'percent'
    form.strategy.batch = 50
    form.strategy.canary = true
    await answered()

    expect(dryRuns).toBe(1)
    expect(wrapper.get('[data-test="preview-batch-count"]').text()).toContain('2')
    wrapper.unmount()
  })
})
