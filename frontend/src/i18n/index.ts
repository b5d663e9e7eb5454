/** The console's languages: Chinese by default, English one click away, the choice kept in the browser. */
import type { WritableComputedRef } from 'vue'
import { createI18n } from 'vue-i18n'

import en from './locales/en'
import zhCN from './locales/zh-CN'

export type MessageSchema = typeof zhCN
export const LOCALES = ['zh-CN', 'en'] as const
export type Locale = (typeof LOCALES)[number]

export const DEFAULT_LOCALE: Locale = 'zh-CN'
const STORAGE_KEY = 'convoy.locale'

export function storedLocale(): Locale {
  const saved = localStorage.getItem(STORAGE_KEY)
  return LOCALES.find((locale) => locale === saved) ?? DEFAULT_LOCALE
}

export function createConsoleI18n() {
  const locale = storedLocale()
  document.documentElement.lang = locale
  return createI18n<[MessageSchema], Locale, false>({
    legacy: false,
    locale,
    fallbackLocale: 'en',
    messages: { 'zh-CN': zhCN, en },
  })
}

/** Switch the language now and for the next visit. */
export function setLocale(current: WritableComputedRef<string>, locale: Locale): void {
  current.value = locale
  localStorage.setItem(STORAGE_KEY, locale)
  document.documentElement.lang = locale
}
