import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'

import type { ComplianceCounts } from '@/api/policies'
import { complianceSegments, compliantPercent } from '@/features/policies/compliance'
import ComplianceBar from '@/features/policies/ComplianceBar.vue'
import { createConsoleI18n } from '@/i18n'

function counts(values: Partial<ComplianceCounts>): ComplianceCounts {
  const base = { compliant: 0, drifted: 0, converging: 0, failed: 0, incompatible: 0, ...values }
  const total = base.compliant + base.drifted + base.converging + base.failed + base.incompatible
  return { total, ...base }
}

describe('compliance as the segments of a bar', () => {
  it('gives each state with nodes its share, compliant first, empty states left out', () => {
    const segments = complianceSegments(counts({ compliant: 6, drifted: 2, failed: 1, incompatible: 1 }))
    expect(segments).toEqual([
      { state: 'compliant', count: 6, percent: 60 },
      { state: 'drifted', count: 2, percent: 20 },
      { state: 'failed', count: 1, percent: 10 },
      { state: 'incompatible', count: 1, percent: 10 },
    ])
  })

  it('always fills the bar exactly, whatever rounding does', () => {
    const segments = complianceSegments(counts({ compliant: 1, drifted: 1, converging: 1 }))
    expect(segments.map((segment) => segment.percent)).toEqual([33.3, 33.3, 33.4])
    const many = complianceSegments(counts({ compliant: 997, failed: 2, converging: 1 }))
    expect(many.reduce((sum, segment) => sum + segment.percent, 0)).toBeCloseTo(100, 6)
  })

  it('draws no segment for a policy without nodes', () => {
    expect(complianceSegments(counts({}))).toEqual([])
    expect(complianceSegments(null)).toEqual([])
    expect(compliantPercent(counts({}))).toBeNull()
  })

  it('rounds the compliant share down, so 100% means every node', () => {
    expect(compliantPercent(counts({ compliant: 199, drifted: 1 }))).toBe(99)
    expect(compliantPercent(counts({ compliant: 4 }))).toBe(100)
  })
})

describe('the compliance bar', () => {
  function mountBar(value: ComplianceCounts, legend = false) {
    localStorage.setItem('convoy.locale', 'en')
    return mount(ComplianceBar, { props: { counts: value, legend }, global: { plugins: [createConsoleI18n()] } })
  }

  it('draws one segment per state, as wide as its share, with the raw state kept', () => {
    const wrapper = mountBar(counts({ compliant: 3, failed: 1 }))
    const segments = wrapper.findAll('.compliance-bar__segment')
    expect(segments.map((segment) => [segment.attributes('data-state'), segment.attributes('style')])).toEqual([
      ['compliant', 'width: 75%;'],
      ['failed', 'width: 25%;'],
    ])
  })

  it('names the states and their counts in its legend', () => {
    const wrapper = mountBar(counts({ compliant: 3, drifted: 2 }), true)
    expect(wrapper.find('.compliance-bar__legend').text()).toBe('Compliant 3 Drifted 2')
  })

  it('says there are no nodes instead of drawing an empty bar', () => {
    expect(mountBar(counts({})).text()).toBe('No nodes yet')
  })
})
