/** Times from the API (ISO 8601, UTC) as the browser's timezone shows them, in the console's language. */

const formats = new Map<string, Intl.DateTimeFormat>()

function format(locale: string): Intl.DateTimeFormat {
  let found = formats.get(locale)
  if (!found) {
    found = new Intl.DateTimeFormat(locale, {
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hour12: false,
    })
    formats.set(locale, found)
  }
  return found
}

/** "2026/11/28 15:04:05" in the browser's timezone; '—' for a missing or unreadable time. */
export function formatTime(iso: string | null | undefined, locale: string): string {
  if (!iso) return '—'
  const time = new Date(iso)
  return Number.isNaN(time.getTime()) ? '—' : format(locale).format(time)
}

/** Start of today in the browser's timezone, as the API takes times (ISO 8601). */
export function startOfToday(now: Date = new Date()): string {
  const start = new Date(now)
  start.setHours(0, 0, 0, 0)
  return start.toISOString()
}
