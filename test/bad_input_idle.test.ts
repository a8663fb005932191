import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, type RunningService } from '@vtuber-stt/core';
import type { RunningProxy } from '@vtuber-stt/proxy';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { RealtimeClient, to24k } from './helpers/realtime_client.js';
import { untilAsync } from './helpers/wait.js';
import { TestClient } from './helpers/ws_client.js';

type Reply = { type: string; seq?: number; text?: string; code?: string; error?: string };

const WORDS = syntheticText(fixtureModel('base'), 20);
const clip = loadClip('speechbrain/spk1_snt1.wav');
const speech = encodeS16le(clip);
/** 1.5 s: enough for a transcript, little to decode. */
const short = encodeS16le(clip.subarray(0, 24_000));
/** What the service admits at once (STT_MAX_CONNECTIONS). */
const LIMIT = 4;
/** What the proxy's sessions may hold of it: one slot stays free for REST. */
const SLOTS = LIMIT - 1;
/** STT_PROXY_UPSTREAM_IDLE_MS: well under the third retry (STT_PROXY_RETRY_MS 400 doubling, jittered: at least 1.96 s in), so a waiting wave gets in on its attempts. */
const IDLE_MS = 600;

/**
 * Idle sockets cost nothing upstream (issue 18, item 3): a session holds a backend connection
 * only from its first frame and while it is used, sessions take at most what the backend admits
 * less a slot kept for REST, and a refusal (the proxy's own, or a backend's 1013 busy) is backed
 * off from, not retried in a tight loop. One service admitting LIMIT connections behind one proxy.
 */
describe('bad input: idle sessions do not hold the backends', () => {
  let service: RunningService;
  let proxy: RunningProxy & { ws: string };
  const logLines: string[] = [];

  /** Until the service holds no WebSocket connection (the proxy's sessions let go after STT_PROXY_UPSTREAM_IDLE_MS). */
  async function allReleased(): Promise<number> {
    const deadline = Date.now() + 10_000;
    while ((await upstreams()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    return upstreams();
  }

  /** The service's open WebSocket connections, from its /metrics. */
  const upstreams = async () => Number(/^stt_ws_connections(?:\{[^}]*\})? (\d+)/m.exec(await fetch(`${service.url}/metrics`).then((r) => r.text()))?.[1]);

  async function flushSession(audio: Buffer): Promise<Reply> {
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    c.sendAudio(audio);
    c.flush();
    const reply = await c.next<Reply>();
    await c.close();
    return reply;
  }

  beforeAll(async () => {
    service = await startTestService({}, { STT_MAX_CONNECTIONS: String(LIMIT) });
    const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
    // Long enough that each wave below starts while the last still holds its connections, even on a
    // loaded machine (at 150 ms a slow /metrics read let the last wave go first, and nothing waited).
    proxy = await startTestProxy({ cpu: service.url }, { upstreamIdleMs: IDLE_MS, retry: { retryDelayMs: 400, exhaustedDelayMs: 2000 } }, { logger });
  });

  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('opens more idle sessions than the service admits: REST and a new flush session are served, then every idle session is too', async () => {
    // The proxy knows what the member admits (its /ready's max_connections).
    const status = (await fetch(`${proxy.url}/api/status`).then((r) => r.json())) as { backends: { cpu: { max_connections?: number } } };
    expect(status.backends.cpu.max_connections).toBe(LIMIT);
    // Whatever ran before in this file has let go of the service: every slot is free for the waves.
    await untilAsync(async () => ((await fetch(`${proxy.url}/api/status`).then((r) => r.json())) as { backends: { cpu: { sessions: number } } }).backends.cpu.sessions === 0);
    expect(await allReleased()).toBe(0);
    const idle = await Promise.all(Array.from({ length: 2 * LIMIT }, () => TestClient.connect(`${proxy.ws}/ws/transcribe`)));
    // Connected and silent: no backend connection is held for them.
    expect(await upstreams()).toBe(0);

    const rest = await fetch(`${proxy.url}/api/transcribe?sample_rate=16000&encoding=s16le`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: short });
    expect(rest.status).toBe(200);
    expect(((await rest.json()) as Reply).text).toBe(WORDS);
    expect(await flushSession(short)).toMatchObject({ type: 'transcript', seq: 1, text: WORDS });

    // Now they talk, SLOTS at a time, each wave while the last one still holds its connections
    // (released only after STT_PROXY_UPSTREAM_IDLE_MS): the next wave waits for room, backing
    // off, and is served once the last lets go. The service never holds more than SLOTS for them.
    for (let i = 0; i < idle.length; i += SLOTS) {
      const wave = idle.slice(i, i + SLOTS);
      for (const c of wave) {
        c.sendAudio(short);
        c.flush();
      }
      const replies = await Promise.all(wave.map((c) => c.next<Reply>()));
      for (const r of replies) expect(r).toMatchObject({ type: 'transcript', seq: 1, text: WORDS });
      expect(await upstreams()).toBeLessThanOrEqual(SLOTS);
    }
    // Every wait was logged once per try, a handful per session, not hundreds.
    const refusals = logLines.filter((l) => l.includes('"code":1013'));
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.length).toBeLessThanOrEqual(idle.length * 3);

    // Talked and fell silent again: each lets its connection go (closed 1000 at the service) and stays open itself.
    expect(await allReleased()).toBe(0);
    // The next frame reopens it transparently.
    idle[0]!.sendAudio(short);
    idle[0]!.flush();
    expect(await idle[0]!.next<Reply>()).toMatchObject({ type: 'transcript', seq: 2, text: WORDS });
    await Promise.all(idle.map((c) => c.close()));
    expect(await flushSession(speech)).toMatchObject({ type: 'transcript', text: WORDS });
  });

  it('realtime sessions that connect and configure hold no backend connection; the first append opens one, and it is let go again', async () => {
    const sessions = await Promise.all(Array.from({ length: LIMIT + 1 }, () => RealtimeClient.connect(`${proxy.ws}/v1/realtime?intent=transcription`)));
    for (const c of sessions) {
      await c.next('session.created');
      c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: null, transcription: { language: 'en' } } } } });
      await c.next('session.updated');
    }
    expect(await upstreams()).toBe(0);
    const [first] = sessions;
    first!.append(to24k(short));
    first!.send({ type: 'input_audio_buffer.commit' });
    expect((await first!.next('conversation.item.input_audio_transcription.completed')).transcript).toBe(WORDS);
    expect(await allReleased()).toBe(0);
    await Promise.all(sessions.map((c) => c.close()));
  });

  it('a client that sends some audio and then sleeps (reads and sends nothing) holds no backend connection; the others are served', async () => {
    const sleeper = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server`);
    sleeper.sendAudio(short.subarray(0, 3200 * 5));
    const asleep = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    asleep.sendAudio(short);
    // Both stop: nothing more is sent, nothing is read (the socket's reads are paused).
    sleeper.ws.pause();
    asleep.ws.pause();
    expect(await allReleased()).toBe(0);
    for (let i = 0; i < LIMIT; i++) expect(await flushSession(short)).toMatchObject({ type: 'transcript', seq: 1, text: WORDS });
    const rest = await fetch(`${proxy.url}/api/transcribe?sample_rate=16000&encoding=s16le`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: short });
    expect(rest.status).toBe(200);
    // Awake again, the flush-mode one is answered for the audio it sent before sleeping.
    asleep.ws.resume();
    asleep.flush();
    expect(await asleep.next<Reply>()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS });
    sleeper.ws.resume();
    await Promise.all([sleeper.close(), asleep.close()]);
  });
});
