/** One artifact download at a time, owned by the panel that started it: its progress, and stopping it when
 * the panel closes, so a download nobody waits for does not go on filling the browser's memory. */
import { isCancel, type AxiosProgressEvent } from 'axios'
import { onBeforeUnmount, ref } from 'vue'

import { downloadPackage, packageContentPath } from '@/api/packages'

/** From this size on the drawer says that the browser receives the whole file before saving it. */
export const LARGE_DOWNLOAD_BYTES = 100 * 1024 * 1024

export interface DownloadProgress {
  percent: number
  loaded: number
  total: number
}

/** The gateway's length when the browser knows it, else the size the catalog recorded. */
export function downloadProgress(event: AxiosProgressEvent, size: number): DownloadProgress {
  const total = event.total || size
  const loaded = total > 0 ? Math.min(event.loaded, total) : event.loaded
  return { percent: total > 0 ? Math.floor((loaded / total) * 100) : 0, loaded, total }
}

/** The same download without a browser: straight to disk under the gateway's file name, with the user's
 * access token in TOKEN. */
export function curlCommand(packageId: string, origin: string): string {
  return `curl -fOJ -H "Authorization: Bearer $TOKEN" '${origin}${packageContentPath(packageId)}'`
}

function save(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob)
  const link = Object.assign(document.createElement('a'), { href: url, download: filename })
  link.click()
  // Revoked on the next turn: the browser has taken the blob over by then.
  setTimeout(() => URL.revokeObjectURL(url), 0)
}

export function useDownload() {
  const progress = ref<DownloadProgress | null>(null)
  let controller: AbortController | null = null

  /** Stops the download under way, if any; nothing is saved and nothing is reported. */
  function stop(): void {
    controller?.abort()
    controller = null
    progress.value = null
  }

  /** Downloads and saves the artifact; a stopped download resolves quietly, a failed one throws. */
  async function start(packageId: string, size: number): Promise<void> {
    stop()
    const mine = new AbortController()
    controller = mine
    progress.value = { percent: 0, loaded: 0, total: size }
    const onProgress = (event: AxiosProgressEvent) => {
      if (controller === mine) progress.value = downloadProgress(event, size)
    }
    try {
      const { blob, filename } = await downloadPackage(packageId, { signal: mine.signal, onProgress })
      if (!mine.signal.aborted) save(blob, filename)
    } catch (error) {
      if (!isCancel(error) && !mine.signal.aborted) throw error
    } finally {
      if (controller === mine) stop()
    }
  }

  onBeforeUnmount(stop)
  return { progress, start, stop }
}
