import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, type RunningService } from '@vtuber-stt/core';
import type { RunningProxy } from '@vtuber-stt/proxy';
import { loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { RealtimeClient, to24k } from './helpers/realtime_client.js';
import { startTestService } from './helpers/service.js';
import { TestClient } from './helpers/ws_client.js';
import { untilAsync } from './helpers/wait.js';

/**
 * Admission control over real connections. Each service refuses new sessions once its engine ran
 * a job for more than 0.1 % of the last second (STT_MAX_BUSY, STT_BUSY_WINDOW_MS turned down to
 * their least): one real decode puts it past capacity, and a second of idle engine brings it back,
 * read from /metrics.
 */
const RELAY_SECRET = 'the-proxy-and-its-members-share-this';
const ADMISSION = { STT_MAX_BUSY: '0.001', STT_BUSY_WINDOW_MS: '1000', STT_RELAY_SECRET: RELAY_SECRET };
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));

let full: RunningService & { ws: string };
let other: RunningService & { ws: string };
let proxy: RunningProxy & { ws: string };
/** One session on each service, admitted while its engine was idle. */
let fullSession: TestClient;
let otherSession: TestClient;

async function metric(service: RunningService, line: RegExp): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const m = new RegExp(`^${line.source}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const refused = (service: RunningService) => metric(service, /stt_sessions_refused_total\{reason="at_capacity"[^}]*\}/);
const served = (service: RunningService) => metric(service, /stt_requests_total\{outcome="text"[^}]*\}/);

/** A real decode on the service's admitted session: afterwards its engine is past capacity. */
async function decode(session: TestClient): Promise<void> {
  session.sendAudio(speech);
  session.flush();
  expect(await session.next()).toMatchObject({ type: 'transcript' });
}

/** The service's engine has been idle for the whole window: it admits again. */
const idle = (service: RunningService) => untilAsync(async () => (await metric(service, /stt_engine_busy_ratio/)) === 0, 10_000, 100);

beforeAll(async () => {
  [full, other] = await Promise.all([startTestService({}, ADMISSION), startTestService({}, ADMISSION)]);
  // The full one as the CPU pool, the other as the GPU pool (toggle off): a new session tries the full one first.
  // A session idle for 300 ms lets its member connection go (the next frame reopens it).
  proxy = await startTestProxy({ cpu: full.url, gpu: other.url }, { retry: { retryDelayMs: 20, exhaustedDelayMs: 20 }, upstreamIdleMs: 300, relaySecret: RELAY_SECRET });
  [fullSession, otherSession] = await Promise.all([TestClient.connect(full.ws), TestClient.connect(other.ws)]);
});

afterAll(async () => {
  await Promise.all([fullSession?.close(), otherSession?.close()]);
  await proxy?.close();
  await Promise.all([full?.close(), other?.close()]);
});

describe('admission control', () => {
  it('past capacity refuses a new session at connect with at_capacity and a retry hint, serves the admitted one, admits again once idle', async () => {
    await decode(fullSession);
    const before = await refused(full);
    const open = await metric(full, /stt_sessions_active/);
    expect(open).toBeGreaterThanOrEqual(1);
    const late = new TestClient(full.ws);
    const [error, close] = await Promise.all([late.next(), late.closed]);
    expect(error).toMatchObject({ type: 'error', code: 'at_capacity', retry_after_s: expect.any(Number) });
    expect(close.code).toBe(1013);
    expect(close.reason).toMatch(/^at capacity: engine \d+% busy .*STT_MAX_BUSY 0\.001.*retry in \d+ s$/);
    expect(await refused(full)).toBe(before + 1);
    // A refused session is never counted among the active ones (what an autoscaler reads).
    expect(await metric(full, /stt_sessions_active/)).toBe(open);
    // The admitted session is never refused: it keeps being served.
    await decode(fullSession);
    expect(await metric(full, /stt_engine_busy_ratio/)).toBeGreaterThan(0);
    // What an autoscaler reads is there (its values: stt/core/test/capacity.test.ts).
    expect(await (await fetch(`${full.url}/metrics`)).text()).toMatch(/^stt_capacity_sessions\{[^}]*\} \d+$/m);

    await idle(full);
    const admitted = await TestClient.connect(full.ws);
    await decode(admitted);
    expect(await metric(full, /stt_sessions_active/)).toBe(open + 1);
    await admitted.close();
  });

  it('the proxy sends a session that a full member refuses to the other device', async () => {
    await Promise.all([idle(full), idle(other)]);
    const servedBefore = [await served(full), await served(other)];
    await decode(fullSession);
    const refusedBefore = await refused(full);
    const viaProxy = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    await decode(viaProxy);
    await viaProxy.close();
    // Tried on the CPU member first: refused there, then served by the other device.
    expect(await refused(full)).toBe(refusedBefore + 1);
    // Served by the member with room; the full one served only its own admitted session.
    expect(await served(other)).toBe(servedBefore[1]! + 1);
    expect(await served(full)).toBe(servedBefore[0]! + 1);
  });

  it('a session the proxy let go while idle resumes on its member when it speaks again, past capacity: it was admitted before', async () => {
    await Promise.all([idle(full), idle(other)]);
    const session = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    const open = await metric(full, /stt_sessions_active/);
    session.sendAudio(speech);
    session.flush();
    expect(await session.next()).toMatchObject({ type: 'transcript', backend: 'cpu' });
    await untilAsync(async () => (await metric(full, /stt_sessions_active/)) === open + 1, 10_000, 20);
    // Idle: the proxy lets its member connection go (STT_PROXY_UPSTREAM_IDLE_MS).
    await untilAsync(async () => (await metric(full, /stt_sessions_active/)) === open, 10_000, 50);
    await decode(fullSession);
    const refusedBefore = await refused(full);
    session.sendAudio(speech);
    session.flush();
    // Not turned away by the member that let it in, nor sent to the other device.
    expect(await session.next()).toMatchObject({ type: 'transcript', backend: 'cpu' });
    expect(await refused(full)).toBe(refusedBefore);
    await session.close();
    // Only the proxy's secret claims a resumption: anyone else's header is a new session, refused.
    await decode(fullSession);
    const claiming = new TestClient(full.ws, { headers: { 'x-stt-resumed-session': 'not-the-secret-but-long-enough' } });
    const [error, close] = await Promise.all([claiming.next(), claiming.closed]);
    expect(error).toMatchObject({ type: 'error', code: 'at_capacity' });
    expect(close.code).toBe(1013);
  });

  it('every member full: a WebSocket session is refused at_capacity with the hint, REST answers 503 with Retry-After, realtime an error event and 1013', async () => {
    await Promise.all([decode(fullSession), decode(otherSession)]);
    const session = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    session.sendAudio(speech);
    session.flush();
    const close = await session.closed;
    expect(close.code).toBe(1013);
    expect(close.reason).toMatch(/^at capacity: engine \d+% busy .*retry in \d+ s$/);
    const said: Record<string, unknown>[] = [];
    for (let m = await session.next(100).catch(() => undefined); m; m = await session.next(100).catch(() => undefined)) said.push(m);
    expect(said.at(-1)).toMatchObject({ type: 'error', code: 'at_capacity' });

    await Promise.all([decode(fullSession), decode(otherSession)]);
    const answer = await fetch(`${proxy.url}/api/transcribe?sample_rate=16000`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: speech });
    expect(answer.status).toBe(503);
    const body = (await answer.json()) as { code: string; error: string };
    expect(body).toMatchObject({ code: 'at_capacity', error: expect.stringMatching(/retry in \d+ s/) });
    // The member's own hint, carried as a field: the header and the words agree.
    expect(answer.headers.get('retry-after')).toBe(/retry in (\d+) s/.exec(body.error)![1]);

    // OpenAI realtime: an `error` event naming the refusal, then the close.
    await Promise.all([decode(fullSession), decode(otherSession)]);
    const rt = await RealtimeClient.connect(`${proxy.ws}/v1/realtime?intent=transcription`);
    rt.append(to24k(speech));
    rt.send({ type: 'input_audio_buffer.commit' });
    const [refusal, rtClose] = await Promise.all([rt.next('error'), rt.closed]);
    expect(refusal.error).toMatchObject({ code: 'at_capacity', message: expect.stringMatching(/retry in \d+ s/) });
    expect(rtClose.code).toBe(1013);
  });
});
