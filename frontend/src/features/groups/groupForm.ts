/** The group form as the user fills it and the body the API takes; the maintenance window in both. */
import type { Group, GroupCreate, MaintenanceWindow } from '@/api/groups'
import type { Category } from '@/api/servers'

export interface GroupForm {
  name: string
  description: string
  category: Category | ''
  windowEnabled: boolean
  /** Five cron fields: minute hour day-of-month month day-of-week. */
  cron: string
  durationMinutes: number
  timezone: string
}

/** The zone the user's browser is in: the likeliest zone of the machines they run. */
export function browserTimezone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
}

/** Every IANA zone the browser knows, for choosing; an empty list lets the user type one. */
export function knownTimezones(): string[] {
  const intl = Intl as typeof Intl & { supportedValuesOf?: (key: 'timeZone') => string[] }
  return intl.supportedValuesOf?.('timeZone') ?? []
}

export function emptyGroupForm(): GroupForm {
  return {
    name: '',
    description: '',
    category: '',
    windowEnabled: false,
    cron: '0 2 * * *',
    durationMinutes: 120,
    timezone: browserTimezone(),
  }
}

export function groupToForm(group: Group): GroupForm {
  const window = group.maintenance_window
  const empty = emptyGroupForm()
  return {
    name: group.name,
    description: group.description,
    category: group.category ?? '',
    windowEnabled: window !== null,
    cron: window?.cron ?? empty.cron,
    durationMinutes: window ? Math.round(window.duration_seconds / 60) : empty.durationMinutes,
    timezone: window?.timezone ?? empty.timezone,
  }
}

/** Blank runs between cron fields are the user's spacing; the inventory reads single spaces. */
export function normalizeCron(cron: string): string {
  return cron.trim().split(/\s+/).join(' ')
}

/** Only the shape is checked here; the inventory judges each field and its message is shown. */
export function cronHasFiveFields(cron: string): boolean {
  const text = normalizeCron(cron)
  return text !== '' && text.split(' ').length === 5
}

/** Explicit nulls, so that an edit removes a category or window the user cleared. */
export function formToBody(form: GroupForm): GroupCreate {
  const window: MaintenanceWindow | null = form.windowEnabled
    ? { cron: normalizeCron(form.cron), duration_seconds: Math.round(form.durationMinutes * 60), timezone: form.timezone.trim() }
    : null
  return {
    name: form.name.trim(),
    description: form.description.trim(),
    category: form.category || null,
    maintenance_window: window,
  }
}

export function durationParts(seconds: number): { hours: number; minutes: number } {
  const minutes = Math.round(seconds / 60)
  return { hours: Math.floor(minutes / 60), minutes: minutes % 60 }
}
