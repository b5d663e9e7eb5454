/** /api/v1/packages and /api/v1/software: the package repository. */
import type { AxiosProgressEvent } from 'axios'

import { http } from './client'

export type PackageFormat = 'deb' | 'rpm' | 'tar' | 'container'
export type OsFamily = 'deb' | 'rpm'

/** Exactly one of `command` (argv, no shell) or `http_url` (on the node itself). */
export interface HealthCheck {
  command: string[] | null
  http_url: string | null
  timeout_seconds: number
}

export interface DeployProfile {
  pre_hook: string
  post_hook: string
  health_check: HealthCheck | null
  restart_service: string
}

export interface Package {
  id: string
  software_name: string
  version: string
  release: string
  format: PackageFormat | null
  arch: string
  os_families: OsFamily[]
  description: string
  depends: string[]
  artifact_sha256: string
  artifact_size: number
  signed: boolean
  deploy_profile: DeployProfile | null
  created_by: string
  created_at: string | null
  updated_at: string | null
  /** What still uses this package (deployments, policies): it cannot be deleted while this is not empty. */
  referenced_by: string[]
}

export interface PackagePage {
  items: Package[]
  next_page_token: string
  total: number
}

/** One software's packages, newest first by the format's own version order (no total). */
export interface VersionPage {
  items: Package[]
  next_page_token: string
}

export interface Software {
  name: string
  version_count: number
  latest_version: string
  formats: PackageFormat[]
  updated_at: string | null
}

export interface SoftwarePage {
  items: Software[]
  next_page_token: string
  total: number
}

export interface PackageQuery {
  page_size?: number
  page_token?: string
  software_name?: string
  format?: PackageFormat
  os_family?: OsFamily
  arch?: string
  /** Substring of name or description. */
  q?: string
}

export interface SoftwareQuery {
  page_size?: number
  page_token?: string
  q?: string
}

export interface VersionQuery {
  page_size?: number
  page_token?: string
  format?: PackageFormat
  os_family?: OsFamily
  arch?: string
}

/** Optional form fields of an upload; left empty, the gateway takes them from the package itself. */
export interface UploadFields {
  software_name?: string
  version?: string
  release?: string
  format?: PackageFormat | ''
  arch?: string
  description?: string
  /** tar and container only: "deb", "rpm" or "deb,rpm". */
  os_families?: string
}

/** Only `description`, `deploy_profile` (null removes it) and `signature` can change after upload. */
export interface PackageUpdate {
  description?: string
  deploy_profile?: DeployProfile | null
  signature?: string
}

/** Cancellation and progress of an upload or a download. */
export interface TransferOptions {
  signal?: AbortSignal
  onProgress?: (event: AxiosProgressEvent) => void
}

export async function listPackages(query: PackageQuery = {}): Promise<PackagePage> {
  return (await http.get<PackagePage>('/api/v1/packages', { params: query })).data
}

export async function listSoftware(query: SoftwareQuery = {}): Promise<SoftwarePage> {
  return (await http.get<SoftwarePage>('/api/v1/software', { params: query })).data
}

export async function listVersions(name: string, query: VersionQuery = {}): Promise<VersionPage> {
  const url = `/api/v1/software/${encodeURIComponent(name)}/versions`
  return (await http.get<VersionPage>(url, { params: query })).data
}

export async function getPackage(id: string): Promise<Package> {
  return (await http.get<Package>(`/api/v1/packages/${encodeURIComponent(id)}`)).data
}

export async function updatePackage(id: string, body: PackageUpdate): Promise<Package> {
  return (await http.patch<Package>(`/api/v1/packages/${encodeURIComponent(id)}`, body)).data
}

export async function deletePackage(id: string): Promise<void> {
  await http.delete(`/api/v1/packages/${encodeURIComponent(id)}`)
}

/** The multipart body: fields first, so the gateway can refuse a bad field before the file is sent on. */
export function uploadForm(file: Blob, fields: UploadFields = {}, filename?: string): FormData {
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) {
    const text = typeof value === 'string' ? value.trim() : ''
    if (text) form.append(name, text)
  }
  form.append('file', file, filename ?? (file instanceof File ? file.name : 'package'))
  return form
}

/** Uploads through the one client; the browser streams the file, so large files are never held in memory.
 * No timeout: a multi-gigabyte upload on a slow link may take far longer than an ordinary request. */
export async function uploadPackage(
  file: Blob,
  fields: UploadFields = {},
  options: TransferOptions = {},
): Promise<Package> {
  const reply = await http.post<Package>('/api/v1/packages', uploadForm(file, fields), {
    timeout: 0,
    signal: options.signal,
    onUploadProgress: options.onProgress,
  })
  return reply.data
}

/** A downloaded artifact and the name the gateway suggests saving it under. */
export interface Download {
  blob: Blob
  filename: string
}

/** The exact name from RFC 6266's `filename*`, else the plain `filename`, else `fallback`. */
export function attachmentName(header: string | undefined, fallback: string): string {
  const exact = /filename\*=UTF-8''([^;]+)/i.exec(header ?? '')
  if (exact?.[1]) {
    try {
      return decodeURIComponent(exact[1])
    } catch {
      // A malformed escape: the plain name below still serves.
    }
  }
  return /filename="([^"]+)"/i.exec(header ?? '')?.[1] ?? fallback
}

/** Where the artifact is served (it needs the Authorization header like every other call). */
export function packageContentPath(id: string): string {
  return `/api/v1/packages/${encodeURIComponent(id)}/content`
}

/** The artifact as a blob: the download needs the Authorization header, which a plain link cannot send.
 * The whole file arrives before it can be saved, so pass a signal that stops it when nobody waits any more. */
export async function downloadPackage(id: string, options: TransferOptions = {}): Promise<Download> {
  const reply = await http.get<Blob>(packageContentPath(id), {
    responseType: 'blob',
    timeout: 0,
    signal: options.signal,
    onDownloadProgress: options.onProgress,
  })
  const header = reply.headers['content-disposition'] as string | undefined
  return { blob: reply.data, filename: attachmentName(header, `package-${id}`) }
}
