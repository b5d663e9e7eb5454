import { flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter, type Router } from 'vue-router'

import { http } from '@/api/client'
import { getDistribution } from '@/api/overview'
import { distributionBars, firstInstalled, PROBE_LIMIT, serversRunning } from '@/features/overview/distribution'
import DistributionCard from '@/features/overview/DistributionCard.vue'
import { createConsoleI18n } from '@/i18n'

async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
}

function software(name: string) {
  return { name, version_count: 1, latest_version: '1.0', formats: ['deb'], updated_at: null }
}

describe('version distribution as bars', () => {
  it('makes each bar as wide as its share of the servers, in the order given', () => {
    const bars = distributionBars([
      { version: '1.26.1-1', servers: 3 },
      { version: '1.24.0-1', servers: 1 },
    ])
    expect(bars).toEqual([
      { version: '1.26.1-1', servers: 3, percent: 75 },
      { version: '1.24.0-1', servers: 1, percent: 25 },
    ])
  })

  it('rounds shares to one decimal and leaves out versions no server runs', () => {
    const items = [
      { version: '3', servers: 1 },
      { version: '2', servers: 0 },
      { version: '1', servers: 2 },
    ]
    expect(distributionBars(items).map((bar) => [bar.version, bar.percent])).toEqual([
      ['3', 33.3],
      ['1', 66.7],
    ])
    expect(serversRunning(items)).toBe(3)
    expect(distributionBars(null)).toEqual([])
  })
})

describe('the distribution card', () => {
  let gateway: MockAdapter

  beforeEach(() => {
    gateway = new MockAdapter(http)
    gateway.onGet('/api/v1/software').reply(200, { items: [software('nginx'), software('redis')], next_page_token: '', total: 2 })
    localStorage.setItem('convoy.locale', 'en')
  })
  afterEach(() => gateway.restore())

  let router: Router

  async function mountCard(address = '/overview') {
    router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/overview', component: { render: () => null } }] })
    await router.push(address)
    return mount(DistributionCard, { props: { tick: 0 }, global: { plugins: [router, createConsoleI18n()] } })
  }

  it('shows the first software at once, one bar per version with its count', async () => {
    gateway.onGet('/api/v1/software/nginx/distribution').reply(200, [
      { version: '1.26.1-1', servers: 2 },
      { version: '1.24.0-1', servers: 6 },
    ])
    const wrapper = await mountCard()
    await settled()

    const rows = wrapper.findAll('.distribution__row')
    expect(rows.map((row) => [row.attributes('data-version'), row.find('.distribution__bar').attributes('style')])).toEqual([
      ['1.26.1-1', 'width: 25%;'],
      ['1.24.0-1', 'width: 75%;'],
    ])
    expect(rows[1]?.text()).toContain('6 · 75%')
    expect(wrapper.text()).toContain('8 servers have it installed')
  })

  it('says the distribution is not available when the gateway does not offer it', async () => {
    gateway.onGet('/api/v1/software/nginx/distribution').reply(404, { error: { code: 'not_found', message: 'Not Found' } })
    const wrapper = await mountCard()
    await settled()

    expect(wrapper.find('[data-state="not-available"]').exists()).toBe(true)
    expect(wrapper.text()).toContain('Version distribution is not available')
    expect(wrapper.text()).not.toContain('Not Found')
  })

  it('says so when no server runs the software', async () => {
    gateway.onGet('/api/v1/software/nginx/distribution').reply(200, [])
    const wrapper = await mountCard()
    await settled()

    expect(wrapper.text()).toContain('No server has "nginx" installed yet')
  })

  it("shows the gateway's reason when the distribution cannot be read", async () => {
    gateway
      .onGet('/api/v1/software/nginx/distribution')
      .reply(503, { error: { code: 'unavailable', message: 'inventory is not answering' } })
    const wrapper = await mountCard()
    await settled()

    expect(wrapper.text()).toContain('inventory is not answering')
  })
})

describe('the software the card opens on', () => {
  let gateway: MockAdapter
  let router: Router

  beforeEach(() => {
    gateway = new MockAdapter(http)
    gateway.onGet('/api/v1/software').reply(200, {
      items: [software('atop'), software('nginx'), software('redis')],
      next_page_token: '',
      total: 3,
    })
    gateway.onGet('/api/v1/software/atop/distribution').reply(200, [])
    gateway.onGet('/api/v1/software/nginx/distribution').reply(200, [{ version: '1.24.0-1', servers: 2 }])
    gateway.onGet('/api/v1/software/redis/distribution').reply(200, [{ version: '7.2.4', servers: 5 }])
    localStorage.setItem('convoy.locale', 'en')
  })
  afterEach(() => {
    gateway.restore()
    document.body.innerHTML = ''
  })

  async function mountCard(address: string) {
    router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/overview', component: { render: () => null } }] })
    await router.push(address)
    const wrapper = mount(DistributionCard, { props: { tick: 0 }, global: { plugins: [router, createConsoleI18n()] }, attachTo: document.body })
    await settled()
    return wrapper
  }

  function versionsShown(wrapper: Awaited<ReturnType<typeof mountCard>>): (string | undefined)[] {
    return wrapper.findAll('.distribution__row').map((row) => row.attributes('data-version'))
  }

  it('opens on the first software that some server runs, not on one installed nowhere', async () => {
    const wrapper = await mountCard('/overview')

    expect(versionsShown(wrapper)).toEqual(['1.24.0-1'])
    expect(wrapper.text()).toContain('2 servers have it installed')
    expect(router.currentRoute.value.query).toEqual({})
  })

  it('opens on the software named in the address, asking about no other', async () => {
    const wrapper = await mountCard('/overview?software=redis')

    expect(versionsShown(wrapper)).toEqual(['7.2.4'])
    expect(gateway.history.get.map((request) => request.url).filter((url) => url?.endsWith('/distribution'))).toEqual([
      '/api/v1/software/redis/distribution',
    ])
  })

  it("keeps the user's choice in the address", async () => {
    const wrapper = await mountCard('/overview')
    const select = wrapper.findComponent({ name: 'ElSelect' })
    select.vm.$emit('update:modelValue', 'redis')
    select.vm.$emit('change', 'redis')
    await settled()

    expect(router.currentRoute.value.query).toEqual({ software: 'redis' })
    expect(versionsShown(wrapper)).toEqual(['7.2.4'])
  })

  it('lists the software of the newest search when an older one answers last', async () => {
    const wrapper = await mountCard('/overview?software=redis')
    let release: (reply: [number, unknown]) => void = () => undefined
    const slow = new Promise<[number, unknown]>((resolve) => (release = resolve))
    gateway.resetHandlers()
    gateway.onGet('/api/v1/software').reply((config) =>
      config.params?.q === 'ng' ? slow : [200, { items: [software('redis')], next_page_token: '', total: 1 }],
    )
    const search = wrapper.findComponent({ name: 'ElSelect' }).props('remoteMethod') as (query: string) => Promise<void>

    const older = search('ng')
    await search('red')
    release([200, { items: [software('nginx')], next_page_token: '', total: 1 }])
    await older
    await settled()

    expect(wrapper.findAllComponents({ name: 'ElOption' }).map((option) => option.props('label'))).toEqual(['redis'])
  })
})

describe('choosing a software that some server runs', () => {
  const names = Array.from({ length: 30 }, (_, index) => `sw-${index}`)

  it('asks a few at a time and stops at the first batch with an install', async () => {
    const asked: string[] = []
    const read = async (name: string) => {
      asked.push(name)
      return name === 'sw-7' || name === 'sw-9' ? [{ version: '1', servers: 1 }] : []
    }
    expect(await firstInstalled(names, read)).toBe('sw-7')
    expect(asked).toEqual(names.slice(0, 10))
  })

  it('falls back to the first software when none near the top is installed', async () => {
    const asked: string[] = []
    const read = async (name: string) => {
      asked.push(name)
      return []
    }
    expect(await firstInstalled(names, read)).toBe('sw-0')
    expect(asked).toHaveLength(PROBE_LIMIT)
  })

  it('stops asking when the gateway cannot tell', async () => {
    const asked: string[] = []
    const read = async (name: string) => {
      asked.push(name)
      return null
    }
    expect(await firstInstalled(names, read)).toBe('sw-0')
    expect(asked).toHaveLength(5)
    expect(await firstInstalled([], read)).toBe('')
  })
})

describe('reading the distribution', () => {
  let gateway: MockAdapter

  beforeEach(() => {
    gateway = new MockAdapter(http)
  })
  afterEach(() => gateway.restore())

  it('escapes the software name and takes a 404 as "not offered"', async () => {
    gateway.onGet('/api/v1/software/a%2Fb/distribution').reply(200, [{ version: '1', servers: 1 }])
    gateway.onGet('/api/v1/software/old/distribution').reply(404, {})
    gateway.onGet('/api/v1/software/down/distribution').reply(502, {})

    expect(await getDistribution('a/b')).toEqual([{ version: '1', servers: 1 }])
    expect(await getDistribution('old')).toBeNull()
    await expect(getDistribution('down')).rejects.toMatchObject({ response: { status: 502 } })
  })
})
