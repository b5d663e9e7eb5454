import { afterEach, describe, expect, it, vi } from 'vitest'

import type { TokenOut } from '@/api/auth'
import { http, REFRESH_URL, useTokenKeeper } from '@/api/client'
import {
  SseParser,
  watchEvents,
  type SseMessage,
  type StreamProblem,
  type StreamStatus,
  type WatchedEvent,
  type WatchOptions,
} from '@/api/events'
import MockAdapter from 'axios-mock-adapter'

// What the gateway sends: a comment on connecting, events with ids, keep-alive comments between them.
const STREAM = [
  ': connected',
  '',
  'id: 7',
  'event: deployment',
  'data: {"sequence":7,"deployment_id":"d1","deployment":{"id":"d1","state":"running"}}',
  '',
  ': keep-alive',
  '',
  'id: 8',
  'event: target',
  'data: {"sequence":8,"deployment_id":"d1",',
  'data: "target":{"server_id":"s1","state":"installing"}}',
  '',
  '',
].join('\n')

function parseAll(chunks: string[]): { messages: SseMessage[]; parser: SseParser } {
  const parser = new SseParser()
  const messages = chunks.flatMap((chunk) => parser.push(chunk))
  return { messages, parser }
}

describe('the event-stream parser', () => {
  const whole = parseAll([STREAM]).messages

  it('reads events with their type, id and data, and skips comments and heartbeats', () => {
    expect(whole.map((message) => [message.event, message.id])).toEqual([
      ['deployment', '7'],
      ['target', '8'],
    ])
    expect(JSON.parse(whole[0]?.data ?? '')).toMatchObject({ deployment: { state: 'running' } })
  })

  it('joins the data lines of one event with line breaks', () => {
    expect(whole[1]?.data).toBe('{"sequence":8,"deployment_id":"d1",\n"target":{"server_id":"s1","state":"installing"}}')
  })

  it('gives the same events however the stream is cut into chunks', () => {
    for (let cut = 0; cut <= STREAM.length; cut += 1) {
      expect(parseAll([STREAM.slice(0, cut), STREAM.slice(cut)]).messages).toEqual(whole)
    }
    expect(parseAll([...STREAM]).messages).toEqual(whole)
  })

  it('takes CRLF and CR line breaks, also a CRLF split between two chunks', () => {
    const crlf = STREAM.replaceAll('\n', '\r\n')
    for (let cut = 0; cut <= crlf.length; cut += 1) {
      expect(parseAll([crlf.slice(0, cut), crlf.slice(cut)]).messages).toEqual(whole)
    }
    expect(parseAll([STREAM.replaceAll('\n', '\r')]).messages).toEqual(whole)
  })

  it('keeps the last event id across events and connections, and ignores an id with NUL', () => {
    const parser = new SseParser()
    parser.push('id: 41\nevent: target\ndata: {}\n\n')
    parser.push('event: target\ndata: {}\n')
    parser.reset()
    expect(parser.push('data: x\n\n')).toEqual([{ id: '41', event: 'message', data: 'x' }])
    parser.push('id: 4\u00002\ndata: y\n\n')
    expect(parser.lastEventId).toBe('41')
  })

  it('takes an id only when its event is complete: a stream cut mid-event resumes after the one before', () => {
    const parser = new SseParser()
    parser.push('id: 41\nevent: target\ndata: {}\n\n')
    parser.push('id: 42\nevent: target\ndata: {"half":')
    expect(parser.lastEventId).toBe('41')
    parser.reset()
    expect(parser.push('data: x\n\n')).toEqual([{ id: '41', event: 'message', data: 'x' }])
    parser.push('id: 43\n')
    expect(parser.lastEventId).toBe('41')
    parser.push('\n')
    expect(parser.lastEventId).toBe('43')
  })

  it('dispatches nothing for an event without data, and resets the event type after each event', () => {
    const { messages } = parseAll(['event: target\n\n', 'data: plain\n\n'])
    expect(messages).toEqual([{ id: '', event: 'message', data: 'plain' }])
  })

  it('keeps a field without a space after the colon whole, reads retry, and drops a leading BOM', () => {
    const { messages, parser } = parseAll(['\uFEFFretry: 2500\ndata:  two spaces\ndata\n\n'])
    expect(messages[0]?.data).toBe(' two spaces\n')
    expect(parser.retry).toBe(2500)
  })
})

/** A fetch whose answers the test scripts one connection at a time; each stream stays open until closed. */
function scriptedFetch() {
  const calls: { url: string; headers: Record<string, string>; signal?: AbortSignal | null; at: number }[] = []
  const streams: ReadableStreamDefaultController<Uint8Array>[] = []
  const answers: (() => Response)[] = []
  const encoder = new TextEncoder()

  const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    const headers = { ...(init?.headers as Record<string, string>) }
    calls.push({ url: String(url), headers, signal: init?.signal, at: performance.now() })
    const answer = answers.shift()
    if (answer) return answer()
    let controller!: ReadableStreamDefaultController<Uint8Array>
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c
      },
    })
    init?.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')))
    streams.push(controller)
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } })
  })

  return {
    fetch: fetch as unknown as typeof globalThis.fetch,
    calls,
    /** The next connection is refused with this status and error body. */
    refuse(status: number, code: string, message: string) {
      answers.push(() => new Response(JSON.stringify({ error: { code, message } }), { status }))
    },
    /** The next connection is accepted with the gateway's greeting, `then` and the end of the stream. */
    greet(then = '') {
      answers.push(() => new Response(`: connected\n\n${then}`, { status: 200 }))
    },
    send(text: string, stream = streams.length - 1) {
      streams[stream]?.enqueue(encoder.encode(text))
    },
    close(stream = streams.length - 1) {
      streams[stream]?.close()
    },
  }
}

/** The time between one connection and the next. */
function gaps(calls: { at: number }[]): number[] {
  return calls.slice(1).map((call, index) => call.at - calls[index]!.at)
}

async function settled(): Promise<void> {
  for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setTimeout(resolve, 0))
}

function tokens(access: string): TokenOut {
  return {
    access_token: access,
    token_type: 'Bearer',
    expires_in: 900,
    access_expires_at: null,
    refresh_token: `r-${access}`,
    refresh_expires_at: null,
    user: {
      id: 'u1',
      username: 'ops',
      display_name: 'Ops',
      role: 'operator',
      disabled: false,
      created_at: null,
      updated_at: null,
      last_login_at: null,
    },
  }
}

function keeper(access: string) {
  const state = { access, expired: 0 }
  useTokenKeeper({
    accessToken: () => state.access,
    refreshToken: () => `r-${state.access}`,
    renewed: (next) => {
      state.access = next.access_token
    },
    expired: () => {
      state.expired += 1
    },
  })
  return state
}

function watcher(server: ReturnType<typeof scriptedFetch>, deploymentId = 'd1', tuning: Partial<WatchOptions> = {}) {
  const events: WatchedEvent[] = []
  const statuses: StreamStatus[] = []
  const problems: StreamProblem[] = []
  const resyncs: number[] = []
  const watch = watchEvents({
    deploymentId,
    fetch: server.fetch,
    delays: [0],
    onEvent: (event) => events.push(event),
    onStatus: (status) => statuses.push(status),
    onProblem: (problem) => problems.push(problem),
    onResync: () => resyncs.push(1),
    ...tuning,
  })
  return { watch, events, statuses, problems, resyncs }
}

describe('watching events', () => {
  let gateway: MockAdapter | null = null

  afterEach(() => {
    gateway?.restore()
    gateway = null
    useTokenKeeper(null)
    vi.restoreAllMocks()
  })

  it('asks for one deployment with the access token and hands on its events', async () => {
    keeper('a1')
    const server = scriptedFetch()
    const { watch, events, statuses } = watcher(server)
    await settled()
    server.send(STREAM)
    await settled()

    expect(server.calls[0]).toMatchObject({
      url: '/api/v1/events?deployment_id=d1',
      headers: { Authorization: 'Bearer a1', Accept: 'text/event-stream' },
    })
    expect(events.map((event) => event.type)).toEqual(['deployment', 'target'])
    expect(statuses).toContain('open')
    expect(watch.lastEventId).toBe('8')
    watch.stop()
  })

  it('reconnects after a dropped stream, resuming after the last event it saw', async () => {
    keeper('a1')
    const server = scriptedFetch()
    const { watch, events } = watcher(server)
    await settled()
    server.send(STREAM)
    server.close()
    await settled()
    server.send('id: 9\nevent: deployment\ndata: {"sequence":9,"deployment_id":"d1","deployment":{"id":"d1"}}\n\n')
    await settled()

    expect(server.calls).toHaveLength(2)
    expect(server.calls[1]?.headers['Last-Event-ID']).toBe('8')
    expect(events.map((event) => event.data.sequence)).toEqual([7, 8, 9])
    watch.stop()
  })

  it('resumes after the last complete event when the stream drops in the middle of one', async () => {
    keeper('a1')
    const server = scriptedFetch()
    const { watch, events } = watcher(server)
    await settled()
    server.send(STREAM)
    server.send('id: 9\nevent: target\ndata: {"sequence":9,')
    server.close()
    await settled()

    expect(server.calls[1]?.headers['Last-Event-ID']).toBe('8')
    expect(events).toHaveLength(2)
    watch.stop()
  })

  it('waits longer each time a stream is accepted and drops again before any event', async () => {
    keeper('a1')
    vi.spyOn(Math, 'random').mockReturnValue(1)
    const server = scriptedFetch()
    for (let n = 0; n < 4; n += 1) server.greet()
    const { watch, statuses } = watcher(server, 'd1', { delays: [20, 200, 400] })
    await vi.waitFor(() => expect(server.calls).toHaveLength(5), { timeout: 3000 })

    const waits = gaps(server.calls)
    expect(waits[1]).toBeGreaterThan(waits[0]! + 150)
    expect(waits[2]).toBeGreaterThanOrEqual(395)
    expect(waits[3]).toBeGreaterThanOrEqual(395)
    expect(statuses.filter((status) => status === 'reconnecting')).toHaveLength(4)
    watch.stop()
  })

  it('starts the waits short again once an event came through', async () => {
    keeper('a1')
    vi.spyOn(Math, 'random').mockReturnValue(1)
    const server = scriptedFetch()
    server.greet()
    server.greet()
    server.greet('id: 3\nevent: deployment\ndata: {"sequence":3,"deployment_id":"d1","deployment":{"id":"d1"}}\n\n')
    server.greet()
    const { watch, events } = watcher(server, 'd1', { delays: [20, 300] })
    await vi.waitFor(() => expect(server.calls).toHaveLength(5), { timeout: 3000 })

    const waits = gaps(server.calls)
    expect(events).toHaveLength(1)
    expect(waits[1]).toBeGreaterThanOrEqual(295)
    expect(waits[2]).toBeLessThan(250)
    expect(waits[3]).toBeGreaterThanOrEqual(295)
    watch.stop()
  })

  it('starts the waits short again after a stream stayed open long enough, even without events', async () => {
    keeper('a1')
    vi.spyOn(Math, 'random').mockReturnValue(1)
    const server = scriptedFetch()
    server.greet()
    server.greet()
    const { watch } = watcher(server, 'd1', { delays: [20, 400], steadyMs: 50 })
    const closeAfter = async (ms: number, calls: number): Promise<number> => {
      await vi.waitFor(() => expect(server.calls).toHaveLength(calls), { timeout: 3000 })
      server.send(': connected\n\n')
      await new Promise((resolve) => setTimeout(resolve, ms))
      server.close()
      return performance.now()
    }
    const brief = await closeAfter(0, 3)
    const steady = await closeAfter(80, 4)
    await vi.waitFor(() => expect(server.calls).toHaveLength(5), { timeout: 3000 })

    expect(server.calls[3]!.at - brief).toBeGreaterThanOrEqual(395)
    expect(server.calls[4]!.at - steady).toBeLessThan(300)
    watch.stop()
  })

  it('never waits more than 30 s, less a random part, however long the trouble lasts', async () => {
    keeper('a1')
    const timeouts = vi.spyOn(globalThis, 'setTimeout')
    vi.spyOn(Math, 'random').mockReturnValue(0)
    const server = scriptedFetch()
    server.greet()
    const { watch } = watcher(server, 'd1', { delays: [120_000], idleMs: 1000, steadyMs: 1000 })
    await settled()

    const waits = timeouts.mock.calls.map((call) => call[1])
    expect(waits).toContain(15_000)
    expect(waits.some((ms) => (ms ?? 0) > 30_000)).toBe(false)
    watch.stop()
  })

  it('renews the token once on a 401 and reconnects with the new one; a second 401 ends it', async () => {
    const state = keeper('old')
    gateway = new MockAdapter(http)
    gateway.onPost(REFRESH_URL).reply(200, tokens('new'))
    const server = scriptedFetch()
    server.refuse(401, 'unauthenticated', 'token expired')
    server.refuse(401, 'unauthenticated', 'token expired')
    const { watch, problems, statuses } = watcher(server)
    await settled()

    expect(server.calls.map((call) => call.headers.Authorization)).toEqual(['Bearer old', 'Bearer new'])
    expect(state.access).toBe('new')
    expect(problems.at(-1)).toMatchObject({ code: 'unauthenticated', fatal: true })
    expect(statuses.at(-1)).toBe('closed')
    watch.stop()
  })

  it('keeps the stream going when the token cannot be renewed for now (auth unreachable)', async () => {
    const state = keeper('old')
    gateway = new MockAdapter(http)
    gateway.onPost(REFRESH_URL).replyOnce(503, {}).onPost(REFRESH_URL).reply(200, tokens('new'))
    const server = scriptedFetch()
    server.refuse(401, 'unauthenticated', 'token expired')
    server.refuse(401, 'unauthenticated', 'token expired')
    const { watch, problems } = watcher(server, 'd1', { delays: [1] })
    await settled()
    await settled()

    expect(state.expired).toBe(0)
    expect(problems.filter((problem) => problem.fatal)).toEqual([])
    expect(server.calls.map((call) => call.headers.Authorization)).toEqual(['Bearer old', 'Bearer old', 'Bearer new'])
    watch.stop()
  })

  it('renews and goes on from the last event when the stream ends because its token expired', async () => {
    keeper('old')
    gateway = new MockAdapter(http)
    gateway.onPost(REFRESH_URL).reply(200, tokens('new'))
    const server = scriptedFetch()
    const { watch } = watcher(server)
    await settled()
    server.send(STREAM)
    server.send('event: error\ndata: {"code":"unauthenticated","message":"access token expired"}\n\n')
    await settled()

    expect(server.calls[1]?.headers).toMatchObject({ Authorization: 'Bearer new', 'Last-Event-ID': '8' })
    watch.stop()
  })

  it('reports an error event of the source and reconnects', async () => {
    keeper('a1')
    const server = scriptedFetch()
    const { watch, problems } = watcher(server)
    await settled()
    server.send('event: error\ndata: {"code":"unavailable","message":"the event source stopped"}\n\n')
    await settled()

    expect(problems[0]).toEqual({ code: 'unavailable', message: 'the event source stopped', fatal: false })
    expect(server.calls).toHaveLength(2)
    watch.stop()
  })

  it('starts afresh and asks for a resync when the event log was reset under it', async () => {
    keeper('a1')
    const server = scriptedFetch()
    const { watch, resyncs } = watcher(server)
    await settled()
    server.send(STREAM)
    server.close()
    server.refuse(400, 'invalid_argument', 'since is beyond the last event')
    await settled()

    expect(resyncs).toHaveLength(1)
    expect(server.calls.map((call) => call.headers['Last-Event-ID'])).toEqual([undefined, '8', undefined])
    watch.stop()
  })

  it('starts afresh again on a later reset of the event log, once events came through in between', async () => {
    keeper('a1')
    const server = scriptedFetch()
    const { watch, resyncs, problems } = watcher(server)
    await settled()
    server.send(STREAM)
    server.close()
    server.refuse(400, 'invalid_argument', 'since is beyond the last event')
    await settled()
    server.send('id: 3\nevent: deployment\ndata: {"sequence":3,"deployment_id":"d1","deployment":{"id":"d1"}}\n\n')
    server.close()
    server.refuse(400, 'invalid_argument', 'since is beyond the last event')
    await settled()

    expect(resyncs).toHaveLength(2)
    expect(problems.filter((problem) => problem.fatal)).toEqual([])
    expect(server.calls.map((call) => call.headers['Last-Event-ID'])).toEqual([undefined, '8', undefined, '3', undefined])
    watch.stop()
  })

  it('gives up with the gateway message on an unknown deployment', async () => {
    keeper('a1')
    const server = scriptedFetch()
    server.refuse(404, 'not_found', 'deployment d9 not found')
    const { problems, statuses } = watcher(server, 'd9')
    await settled()

    expect(problems).toEqual([{ code: 'not_found', message: 'deployment d9 not found', fatal: true }])
    expect(statuses.at(-1)).toBe('closed')
    expect(server.calls).toHaveLength(1)
  })

  it('takes a stream silent for longer than the heartbeat allows as dead, and reconnects', async () => {
    keeper('a1')
    const server = scriptedFetch()
    const watch = watchEvents({ deploymentId: 'd1', fetch: server.fetch, delays: [0], idleMs: 20, onEvent: () => undefined })
    await settled()
    await new Promise((resolve) => setTimeout(resolve, 40))
    await settled()

    expect(server.calls[0]?.signal?.aborted).toBe(true)
    expect(server.calls.length).toBeGreaterThanOrEqual(2)
    watch.stop()
  })

  it('closes the stream on stop and never reconnects', async () => {
    keeper('a1')
    const server = scriptedFetch()
    const { watch, statuses } = watcher(server)
    await settled()
    watch.stop()
    await settled()

    expect(server.calls[0]?.signal?.aborted).toBe(true)
    expect(server.calls).toHaveLength(1)
    expect(statuses.at(-1)).toBe('closed')
  })
})
