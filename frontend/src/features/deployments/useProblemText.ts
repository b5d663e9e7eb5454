/** A form problem (deployForm.ts) as the message shown under its field; empty when the field is fine. */
import { useI18n } from 'vue-i18n'

import type { FormField, FormProblems } from './deployForm'

export function useProblemText(problems: () => FormProblems) {
  const { t } = useI18n()
  return (field: FormField): string => {
    const found = problems()[field]
    return found ? t(`deployments.check.${found.key}`, found.params ?? {}) : ''
  }
}
