/** One package upload at a time: its progress and speed, cancelling it, and what to tell the user. */
import { isAxiosError, isCancel, type AxiosProgressEvent } from 'axios'
import { ref } from 'vue'

import { errorMessage } from '@/api/client'
import { uploadPackage, type Package, type UploadFields } from '@/api/packages'

export type Translate = (key: string, params?: Record<string, unknown>) => string

/** idle → uploading → inspecting (all bytes sent, the gateway checks the package) → done or failed;
 * cancelled from uploading or inspecting. */
export type UploadPhase = 'idle' | 'uploading' | 'inspecting' | 'done' | 'failed' | 'cancelled'

export interface UploadProgress {
  percent: number
  loaded: number
  total: number
  /** Bytes per second. */
  rate: number
}

const IDLE: UploadProgress = { percent: 0, loaded: 0, total: 0, rate: 0 }

/** Where an upload stands. The browser's recent rate is preferred; the average since the start stands in
 * until the browser has one. `total` is the body the browser sends (the file plus a little form data). */
export function progressOf(event: AxiosProgressEvent, fileSize: number, elapsedSeconds: number): UploadProgress {
  const total = event.total ?? fileSize
  const loaded = Math.min(event.loaded, total || event.loaded)
  const percent = total > 0 ? Math.floor((loaded / total) * 100) : 0
  const average = elapsedSeconds > 0 ? loaded / elapsedSeconds : 0
  return { percent, loaded, total, rate: event.rate && event.rate > 0 ? event.rate : average }
}

/** What to say when an upload fails: the gateway's own reason (an inspection refusal names the problem,
 * e.g. "member '../x' escapes the archive root"), else what the status means, else that the network
 * failed. */
export function uploadErrorText(error: unknown, t: Translate): string {
  if (isCancel(error)) return t('packages.dialog.cancelled')
  const message = errorMessage(error)
  if (message) return message
  if (!isAxiosError(error) || !error.response) return t('common.networkError')
  const { status } = error.response
  if (status === 413) return t('packages.dialog.tooLarge')
  if (status === 415) return t('packages.dialog.unsupported')
  return t('common.requestFailed', { message: `HTTP ${status}` })
}

export function useUpload(t: Translate) {
  const phase = ref<UploadPhase>('idle')
  const progress = ref<UploadProgress>({ ...IDLE })
  const result = ref<Package | null>(null)
  const failure = ref('')
  let controller: AbortController | null = null

  function begin(fileSize: number): AbortController {
    controller?.abort()
    controller = new AbortController()
    phase.value = 'uploading'
    progress.value = { ...IDLE, total: fileSize }
    result.value = null
    failure.value = ''
    return controller
  }

  function track(mine: AbortController, fileSize: number, startedAt: number) {
    return (event: AxiosProgressEvent): void => {
      if (controller !== mine) return
      progress.value = progressOf(event, fileSize, (Date.now() - startedAt) / 1000)
      if (progress.value.total > 0 && progress.value.loaded >= progress.value.total) phase.value = 'inspecting'
    }
  }

  /** Uploads `file`; the registered package, or null when it failed or was cancelled (the state says which). */
  async function start(file: File, fields: UploadFields): Promise<Package | null> {
    const mine = begin(file.size)
    const onProgress = track(mine, file.size, Date.now())
    try {
      const created = await uploadPackage(file, fields, { signal: mine.signal, onProgress })
      if (controller !== mine) return null
      result.value = created
      phase.value = 'done'
      return created
    } catch (error) {
      // A cancelled upload has already said so; a newer upload owns the state now.
      if (controller !== mine) return null
      phase.value = 'failed'
      failure.value = uploadErrorText(error, t)
      return null
    } finally {
      if (controller === mine) controller = null
    }
  }

  /** Stops the request now: the browser drops the connection and the gateway discards what it received. */
  function cancel(): void {
    if (!controller) return
    controller.abort()
    controller = null
    phase.value = 'cancelled'
  }

  /** Ready for the next file; an upload still running is stopped. */
  function reset(): void {
    cancel()
    phase.value = 'idle'
    progress.value = { ...IDLE }
    result.value = null
    failure.value = ''
  }

  return { phase, progress, result, failure, start, cancel, reset }
}
