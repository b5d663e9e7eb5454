import { flushPromises, mount } from '@vue/test-utils'
import MockAdapter from 'axios-mock-adapter'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { http } from '@/api/client'
import type { JoinTokenCreated } from '@/api/joinTokens'
import JoinCommandPanel from '@/features/servers/JoinCommandPanel.vue'
import { createConsoleI18n } from '@/i18n'

const ENROLL = "convoy-agent enroll --server enroll.example:50058 --token cvj_t --ca-fingerprint sha256:ff"
const INSTALL =
  "CONVOY_JOIN_TOKEN=cvj_t sh -c 'curl -fsSL https://convoy.example:8443/api/v1/agent/install.sh | " +
  "sudo --preserve-env=CONVOY_JOIN_TOKEN sh -s -- --server enroll.example:50058 --ca-fingerprint sha256:ff'"

function reply(install: Pick<JoinTokenCreated, 'install_command' | 'install_unavailable'>): JoinTokenCreated {
  return {
    join_token: {
      id: 'j-1',
      server_id: '',
      group_ids: [],
      expires_at: '2026-11-28T08:00:00Z',
      max_uses: 1,
      uses: 0,
      revoked: false,
      created_by: 'operator',
      created_at: '2026-11-28T07:30:00Z',
    },
    token: 'cvj_t',
    ca_fingerprint: 'sha256:ff',
    command: ENROLL,
    ...install,
  }
}

let gateway: MockAdapter
const stubs = { transition: false, 'transition-group': false }

async function created(answer: JoinTokenCreated) {
  gateway.onPost('/api/v1/join-tokens').reply(201, answer)
  localStorage.setItem('convoy.locale', 'en')
  const wrapper = mount(JoinCommandPanel, { global: { plugins: [createConsoleI18n()], stubs }, attachTo: document.body })
  await wrapper.find('form').trigger('submit')
  for (let turn = 0; turn < 10; turn += 1) await flushPromises()
  return wrapper
}

beforeEach(() => {
  gateway = new MockAdapter(http)
  gateway.onGet('/api/v1/groups').reply(200, { items: [], next_page_token: '', total: 0 })
})

afterEach(() => {
  gateway.restore()
  document.body.innerHTML = ''
  localStorage.clear()
})

describe('the join command panel', () => {
  it('shows the one-line install above the enroll command', async () => {
    const wrapper = await created(reply({ install_command: INSTALL, install_unavailable: null }))
    expect(wrapper.find('[data-test="install-command"]').text()).toBe(INSTALL)
    expect(wrapper.find('[data-test="install-copy"]').exists()).toBe(true)
    expect(wrapper.find('[data-test="install-unavailable"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="join-command"]').text()).toBe(ENROLL)
  })

  it('shows only the enroll command, and why, when the gateway offers no install command', async () => {
    const why = 'this gateway has no agent packages in /app/dist/agent'
    const wrapper = await created(reply({ install_command: null, install_unavailable: why }))
    expect(wrapper.find('[data-test="install-command"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="install-copy"]').exists()).toBe(false)
    expect(wrapper.text()).not.toContain('Install and join in one line')
    expect(wrapper.find('[data-test="install-unavailable"]').text()).toContain(why)
    expect(wrapper.find('[data-test="join-command"]').text()).toBe(ENROLL)
  })
})
