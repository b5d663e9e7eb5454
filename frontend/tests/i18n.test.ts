import { beforeEach, describe, expect, it } from 'vitest'

import { createConsoleI18n, setLocale } from '@/i18n'

describe('console language', () => {
  beforeEach(() => localStorage.clear())

  it('is Chinese on a first visit', () => {
    const { global } = createConsoleI18n()
    expect(global.locale.value).toBe('zh-CN')
    expect(global.t('menu.servers')).toBe('服务器')
    expect(global.t('category.data-processing')).toBe('数据处理')
    expect(document.documentElement.lang).toBe('zh-CN')
  })

  it('switches to English at once and remembers it on the next visit', () => {
    const { global } = createConsoleI18n()
    setLocale(global.locale, 'en')
    expect(global.t('menu.deployments')).toBe('Deployments')

    const nextVisit = createConsoleI18n().global
    expect(nextVisit.locale.value).toBe('en')
    expect(nextVisit.t('serverStatus.revoked')).toBe('Revoked')
  })

  it('ignores a stored language it does not have', () => {
    localStorage.setItem('convoy.locale', 'fr')
    expect(createConsoleI18n().global.locale.value).toBe('zh-CN')
  })
})
