/** Why a package could not be deleted, in words the user can act on. */
import { isAxiosError } from 'axios'

import { errorMessage } from '@/api/client'

import type { Translate } from './useUpload'

export interface Refusal {
  /** The gateway's reason; for a package still in use it names the holder ("… referenced by deployment:…"). */
  message: string
  /** Something still uses the package: the user has to change that first. */
  referenced: boolean
}

export function deleteRefusal(error: unknown, t: Translate): Refusal {
  const referenced = isAxiosError(error) && error.response?.status === 409
  return { message: errorMessage(error) ?? t('common.networkError'), referenced }
}
