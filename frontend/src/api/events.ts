/**
 * /api/v1/events: the changes of deployments and their targets as Server-Sent Events. Read with fetch and
 * a stream reader because EventSource cannot send the Authorization header; reconnects by itself with a
 * growing delay, resuming after the last event it saw (Last-Event-ID), and renews the access token once
 * when the gateway says it has expired.
 */
import { currentAccessToken, renewAfterUnauthorized } from './client'
import type { Deployment, DeploymentTarget } from './deployments'

/** One event as the stream framed it. */
export interface SseMessage {
  id: string
  event: string
  data: string
}

/**
 * The WHATWG event-stream format, fed with text as it arrives: a piece may end anywhere, even between
 * the CR and LF of one line break. As in browsers, an `id:` line is only pending until its event is
 * dispatched (a blank line ends it): a stream cut mid-event resumes from the last event delivered. The
 * last event id carries over from event to event and from one connection to the next.
 */
export class SseParser {
  /** The id of the last event dispatched. */
  lastEventId = ''
  /** The reconnection delay the server asked for, in milliseconds. */
  retry: number | null = null
  private buffer = ''
  private pendingId = ''
  private data: string[] = []
  private event = ''
  private started = false
  // A chunk ended in CR: an LF at the start of the next one belongs to the same line break.
  private afterCR = false

  push(chunk: string): SseMessage[] {
    let text = chunk
    if (!this.started && text) {
      this.started = true
      if (text.startsWith('\uFEFF')) text = text.slice(1)
    }
    if (this.afterCR && text.startsWith('\n')) text = text.slice(1)
    if (chunk) this.afterCR = false
    this.buffer += text
    const messages: SseMessage[] = []
    const breaks = /\r\n|\r|\n/g
    let start = 0
    for (let found = breaks.exec(this.buffer); found; found = breaks.exec(this.buffer)) {
      const line = this.buffer.slice(start, found.index)
      start = found.index + found[0].length
      if (found[0] === '\r' && start === this.buffer.length) this.afterCR = true
      const message = this.line(line)
      if (message) messages.push(message)
    }
    this.buffer = this.buffer.slice(start)
    return messages
  }

  /** Forgets a half-read event, its id too (a new connection starts afresh); the last event id stays. */
  reset(): void {
    this.buffer = ''
    this.pendingId = this.lastEventId
    this.data = []
    this.event = ''
    this.started = false
    this.afterCR = false
  }

  private line(line: string): SseMessage | null {
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) return null
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.data.push(value)
    else if (field === 'event') this.event = value
    else if (field === 'id' && !value.includes('\0')) this.pendingId = value
    else if (field === 'retry' && /^[0-9]+$/.test(value)) this.retry = Number(value)
    return null
  }

  /** Forgets every id: the next connection starts from now. */
  forgetLastEventId(): void {
    this.lastEventId = ''
    this.pendingId = ''
  }

  private dispatch(): SseMessage | null {
    const data = this.data
    const event = this.event || 'message'
    this.data = []
    this.event = ''
    // The end of an event commits its id, even of an event without data (as browsers do).
    this.lastEventId = this.pendingId
    if (data.length === 0) return null
    return { id: this.lastEventId, event, data: data.join('\n') }
  }
}

interface EventBase {
  sequence: number
  time: string | null
  deployment_id: string
}

export type WatchedEvent =
  | { type: 'deployment'; data: EventBase & { deployment: Deployment } }
  | { type: 'target'; data: EventBase & { target: DeploymentTarget } }
  | { type: 'compliance'; data: EventBase & Record<string, unknown> }

const WATCHED = new Set(['deployment', 'target', 'compliance'])

/** Why the stream is not delivering: `fatal` when it will not try again by itself. */
export interface StreamProblem {
  code: string
  message: string
  fatal: boolean
}

export type StreamStatus = 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface WatchOptions {
  /** Empty or left out: every deployment. */
  deploymentId?: string
  onEvent: (event: WatchedEvent) => void
  onStatus?: (status: StreamStatus) => void
  onProblem?: (problem: StreamProblem) => void
  /** Events may have been missed (the event log was reset): read the current state again. */
  onResync?: () => void
  fetch?: typeof fetch
  /** Waits before each reconnection in a row, in milliseconds (at most 30 s, less a random part of up
   * to half, so many pages do not come back at once); the last one repeats. */
  delays?: number[]
  /** A stream silent for this long is taken as dead (the gateway sends a comment every 15 s). */
  idleMs?: number
  /** A stream open this long counts as healthy again even without events: the next wait starts short. */
  steadyMs?: number
}

export interface EventWatch {
  stop(): void
  readonly lastEventId: string
}

const DEFAULT_DELAYS = [1000, 2000, 4000, 8000, 16_000, 30_000]
const MAX_DELAY_MS = 30_000
const DEFAULT_IDLE_MS = 45_000
const DEFAULT_STEADY_MS = 30_000

type Outcome = { next: 'again' } | { next: 'retry'; delay?: number } | { next: 'stop' }

/** Watches until stop(): call it when the page goes away. */
export function watchEvents(options: WatchOptions): EventWatch {
  const watcher = new Watcher(options)
  void watcher.run()
  return {
    stop: () => watcher.stop(),
    get lastEventId() {
      return watcher.parser.lastEventId
    },
  }
}

class Watcher {
  readonly parser = new SseParser()
  private stopped = false
  private failures = 0
  private renewed = false
  private resynced = false
  private controller: AbortController | null = null
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null
  private wake: (() => void) | null = null

  constructor(private readonly options: WatchOptions) {}

  async run(): Promise<void> {
    while (!this.stopped) {
      this.status(this.failures === 0 ? 'connecting' : 'reconnecting')
      const outcome = await this.connect()
      if (this.stopped || outcome.next === 'stop') break
      if (outcome.next === 'retry') await this.sleep(outcome.delay ?? this.backoff())
    }
    this.status('closed')
  }

  stop(): void {
    this.stopped = true
    this.controller?.abort()
    // A body that does not follow the abort (some fetch implementations) must still end its read.
    void this.reader?.cancel().catch(() => undefined)
    this.wake?.()
  }

  private status(status: StreamStatus): void {
    this.options.onStatus?.(status)
  }

  private problem(code: string, message: string, fatal: boolean): void {
    this.options.onProblem?.({ code, message, fatal })
  }

  private backoff(): number {
    const delays = this.options.delays ?? DEFAULT_DELAYS
    this.failures += 1
    const delay = Math.min(delays[Math.min(this.failures, delays.length) - 1] ?? 1000, MAX_DELAY_MS)
    return delay / 2 + (Math.random() * delay) / 2
  }

  /** The stream works again: the next trouble starts with the shortest wait, and may reset the log. */
  private recovered(): void {
    this.failures = 0
    this.resynced = false
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      this.wake = done
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  private request(): RequestInit {
    const headers: Record<string, string> = { Accept: 'text/event-stream' }
    const token = currentAccessToken()
    if (token) headers.Authorization = `Bearer ${token}`
    if (this.parser.lastEventId) headers['Last-Event-ID'] = this.parser.lastEventId
    return { headers, signal: this.controller?.signal, cache: 'no-store' }
  }

  private url(): string {
    const id = this.options.deploymentId
    return id ? `/api/v1/events?deployment_id=${encodeURIComponent(id)}` : '/api/v1/events'
  }

  private async connect(): Promise<Outcome> {
    this.controller = new AbortController()
    let response: Response
    try {
      response = await (this.options.fetch ?? fetch)(this.url(), this.request())
    } catch {
      if (!this.stopped) this.problem('unavailable', '', false)
      return { next: 'retry' }
    }
    if (!response.ok) return this.refused(response)
    this.status('open')
    return this.read(response)
  }

  /** An HTTP error before the stream started: renew, wait, start afresh or give up. */
  private async refused(response: Response): Promise<Outcome> {
    const body = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null
    const code = body?.error?.code ?? String(response.status)
    const message = body?.error?.message ?? ''
    if (response.status === 401) return this.renew(message)
    if (response.status === 429) {
      this.problem(code, message, false)
      return { next: 'retry', delay: Number(response.headers.get('Retry-After') ?? 10) * 1000 }
    }
    if (response.status === 400 && this.parser.lastEventId && !this.resynced) {
      // The event log was reset: the events after ours are gone, so start from now and reread the state.
      this.resynced = true
      this.parser.forgetLastEventId()
      this.options.onResync?.()
      return { next: 'again' }
    }
    if (response.status >= 500) {
      this.problem(code, message, false)
      return { next: 'retry' }
    }
    this.problem(code, message, true)
    return { next: 'stop' }
  }

  /** One renewal per refusal: a second 401 right after it means the session is over. */
  private async renew(message: string): Promise<Outcome> {
    if (!this.renewed) {
      this.renewed = true
      const renewal = await renewAfterUnauthorized()
      if (renewal === 'renewed') return { next: 'again' }
      // The token could not be renewed now (auth unreachable): the session stands, so try again later.
      if (renewal === 'unavailable') {
        this.renewed = false
        return { next: 'retry' }
      }
    }
    this.problem('unauthenticated', message, true)
    return { next: 'stop' }
  }

  private async read(response: Response): Promise<Outcome> {
    const reader = response.body?.getReader()
    if (!reader) return { next: 'retry' }
    this.reader = reader
    const decoder = new TextDecoder()
    this.parser.reset()
    // The gateway greets every stream it accepts with a comment, so bytes alone do not show the trouble
    // is over: an event does (deliver), or the stream staying up this long.
    const steady = setTimeout(() => this.recovered(), this.options.steadyMs ?? DEFAULT_STEADY_MS)
    let idle = this.idleTimer()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return { next: 'retry' }
        clearTimeout(idle)
        idle = this.idleTimer()
        // An accepted stream shows the token works: its later expiry may be renewed again.
        this.renewed = false
        const outcome = await this.deliver(this.parser.push(decoder.decode(value, { stream: true })))
        if (outcome) {
          await reader.cancel().catch(() => undefined)
          return outcome
        }
      }
    } catch {
      return this.stopped ? { next: 'stop' } : { next: 'retry' }
    } finally {
      this.reader = null
      clearTimeout(idle)
      clearTimeout(steady)
    }
  }

  private idleTimer(): ReturnType<typeof setTimeout> {
    return setTimeout(() => this.controller?.abort(), this.options.idleMs ?? DEFAULT_IDLE_MS)
  }

  /** Hands the events on; an `error` event ends this connection with what to do next. */
  private async deliver(messages: SseMessage[]): Promise<Outcome | null> {
    for (const message of messages) {
      if (this.stopped) return { next: 'stop' }
      if (message.event === 'error') return this.streamError(message.data)
      this.recovered()
      if (!WATCHED.has(message.event)) continue
      const data = parse(message.data)
      if (data) this.options.onEvent({ type: message.event, data } as WatchedEvent)
    }
    return null
  }

  private async streamError(data: string): Promise<Outcome> {
    const body = parse(data) as { code?: string; message?: string } | null
    const code = body?.code ?? 'unavailable'
    // The access token that opened the stream expired: renew it and go on from the last event.
    if (code === 'unauthenticated') return this.renew(body?.message ?? '')
    this.problem(code, body?.message ?? '', false)
    return { next: 'retry' }
  }
}

function parse(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text)
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : null
  } catch {
    return null
  }
}
