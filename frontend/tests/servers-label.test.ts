import { describe, expect, it } from 'vitest'

import { serverLabel } from '@/utils/servers'

describe('a server’s name', () => {
  it('is its hostname, or its IP address when it has none', () => {
    expect(serverLabel({ hostname: 'web-1', ip_address: '192.0.2.1' })).toBe('web-1')
    expect(serverLabel({ hostname: '', ip_address: '192.0.2.1' })).toBe('192.0.2.1')
  })

  it('can carry the address after the hostname, and never an empty pair of brackets', () => {
    expect(serverLabel({ hostname: 'web-1', ip_address: '192.0.2.1' }, { withAddress: true })).toBe('web-1 (192.0.2.1)')
    expect(serverLabel({ hostname: '', ip_address: '192.0.2.1' }, { withAddress: true })).toBe('192.0.2.1')
    expect(serverLabel({ hostname: 'web-1', ip_address: '' }, { withAddress: true })).toBe('web-1')
  })
})
