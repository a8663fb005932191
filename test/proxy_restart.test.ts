import { readFileSync } from 'node:fs';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodePcm, encodeS16le, encodeWav } from '@vtuber-stt/core';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { commitOnce, RealtimeClient, to24k } from './helpers/realtime_client.js';
import { buildRecording } from './helpers/recording.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { switchableWay } from './helpers/tcp_tap.js';
import { TestClient } from './helpers/ws_client.js';
import { untilAsync } from './helpers/wait.js';

/**
 * Nothing lost in a restart (STT_PROXY_HOLD_MS): the one member behind the proxy goes away (a way
 * to it that is taken down: connections cut, new ones refused) and comes back on the same port
 * once the test sees the proxy holding the request (stt_proxy_held_total). Every surface then
 * answers what was sent, in order; with the hold turned down, the error comes past it.
 */

type Reply = { type: string; seq?: number; text?: string; code?: string; error?: string };
const WORDS = syntheticText(fixtureModel('base'), 20);
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
const shortWav = readFileSync(audioPath('speechbrain/spk1_snt1.wav'));
const RETRY = { retryDelayMs: 20, exhaustedDelayMs: 100 };
const SHORT_HOLD_MS = 100;
const COMPLETED = 'conversation.item.input_audio_transcription.completed';

let service: Awaited<ReturnType<typeof startTestService>>;
let way: Awaited<ReturnType<typeof switchableWay>>;
/** Holds longer than any test runs: only the test brings the member back. */
let proxy: Awaited<ReturnType<typeof startTestProxy>>;
/** Holds SHORT_HOLD_MS: what comes past the hold. */
let brief: Awaited<ReturnType<typeof startTestProxy>>;
beforeAll(async () => {
  service = await startTestService();
  way = await switchableWay(service.url);
  [proxy, brief] = await Promise.all([
    startTestProxy({ cpu: way.url }, { retry: RETRY, holdMs: 60_000, maxHeldRequests: 1 }),
    startTestProxy({ cpu: way.url }, { retry: RETRY, holdMs: SHORT_HOLD_MS }),
  ]);
});
beforeEach(async () => {
  await way.up();
});
afterAll(async () => {
  await Promise.all([proxy?.close(), brief?.close()]);
  await way?.close();
  await service?.close();
});

/** stt_proxy_held_total{surface} of a proxy. */
async function held(p: { url: string }, surface: string): Promise<number> {
  const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
  const m = new RegExp(`^stt_proxy_held_total\\{[^}]*surface="${surface}"[^}]*\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** Brings the member back once the proxy holds one more `surface` request than `before`. */
async function backOnceHeld(surface: string, before: number): Promise<void> {
  await untilAsync(async () => (await held(proxy, surface)) > before, 10_000, 20);
  await way.up();
}

describe('a member that restarts: what was sent is held and answered once it is back, in order', () => {
  it('/ws/transcribe flush mode: the flush in flight and the ones sent during the gap', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    c.sendAudio(speech);
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS });
    const before = await held(proxy, 'ws');
    c.sendAudio(speech);
    c.flush();
    await way.down();
    // Two more while the member is away.
    c.sendAudio(speech);
    c.flush();
    c.sendAudio(speech);
    c.flush();
    await backOnceHeld('ws', before);
    const replies = [await c.next<Reply>(), await c.next<Reply>(), await c.next<Reply>()];
    expect(replies.map((r) => [r.type, r.seq, r.text])).toEqual([2, 3, 4].map((seq) => ['transcript', seq, WORDS]));
    await c.close();
  });

  it('realtime, manual commit: the item committed while the member is away completes', async () => {
    const c = await RealtimeClient.connect(`${proxy.ws}/v1/realtime?intent=transcription`);
    expect((await commitOnce(c, speech)).transcript).toBe(WORDS);
    const before = await held(proxy, 'realtime');
    await way.down();
    c.append(to24k(speech));
    c.send({ type: 'input_audio_buffer.commit' });
    const committed = await c.next('input_audio_buffer.committed');
    await backOnceHeld('realtime', before);
    expect(await c.next(COMPLETED)).toMatchObject({ item_id: committed.item_id, transcript: WORDS });
    expect(c.events.filter((e) => e.type === 'error' || e.type.endsWith('.failed'))).toEqual([]);
    await c.close();
  });

  it('realtime, server_vad: the utterance open when the member dies completes, and the session stays open', async () => {
    const recording = buildRecording(['speechbrain/spk1_snt1.wav', 'speechbrain/spk1_snt2.wav'], 1500);
    const pcm = to24k(recording.pcm);
    /** Byte offset of `ms` into the 24 kHz audio, on a whole sample. */
    const at = (ms: number) => Math.min(pcm.length, Math.round(ms * 24) * 2);
    const c = await RealtimeClient.connect(`${proxy.ws}/v1/realtime?intent=transcription`);
    await c.next('session.created');
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: { type: 'server_vad', silence_duration_ms: 500 } } } } });
    await c.next('session.updated');
    // The first utterance answered, the second begun.
    c.append(pcm.subarray(0, at(recording.clips[1]!.startMs + 800)));
    await c.until((all) => all.filter((e) => e.type === COMPLETED).length === 1 && all.filter((e) => e.type === 'input_audio_buffer.speech_started').length === 2, 20_000);
    const before = await held(proxy, 'realtime');
    await way.down();
    c.append(pcm.subarray(at(recording.clips[1]!.startMs + 800)));
    await backOnceHeld('realtime', before);
    const all = await c.until((events) => events.filter((e) => e.type === COMPLETED).length === 2, 20_000);
    const second = all.filter((e) => e.type === 'input_audio_buffer.speech_started')[1]!;
    expect(all.filter((e) => e.type === COMPLETED).at(-1)).toMatchObject({ item_id: second.item_id, transcript: WORDS });
    expect(all.filter((e) => e.type === 'error' || e.type.endsWith('.failed'))).toEqual([]);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    await c.close();
  });

  it('SSE (stream=true): a stream whose member dies after its first utterance goes on with the rest', async () => {
    const recording = buildRecording(['speechbrain/spk1_snt1.wav', 'speechbrain/spk1_snt2.wav', 'speechbrain/spk1_snt3.wav'], 1000);
    const wav = encodeWav(decodePcm(recording.pcm, { sampleRate: 16000, encoding: 's16le', channels: 1 }), 16000);
    const body = new FormData();
    body.append('file', new Blob([wav]), 'three.wav');
    body.append('language', 'en');
    body.append('stream', 'true');
    const before = await held(proxy, 'openai_stream');
    // The member dies the moment it has sent its first final.
    const restart = way.downAfter(/"ended_by":"silence"/).then(() => backOnceHeld('openai_stream', before));
    const r = await fetch(`${proxy.url}/v1/audio/transcriptions`, { method: 'POST', body });
    expect(r.status).toBe(200);
    const events: any[] = [];
    const parser = createParser({ onEvent: (e: EventSourceMessage) => events.push(JSON.parse(e.data)) });
    const decoder = new TextDecoder();
    for await (const chunk of r.body!) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    await restart;
    const deltas = events.filter((e) => e.type === 'transcript.text.delta');
    expect(deltas.map((d) => d.delta.trim())).toEqual([WORDS, WORDS, WORDS]);
    expect(events.at(-1)).toMatchObject({ type: 'transcript.text.done', text: deltas.map((d) => d.delta).join('') });
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('REST: a request made while the member is away is answered once it is back; one past STT_PROXY_MAX_HELD_REQUESTS is refused at once', async () => {
    await way.down();
    // A client that leaves while held gives its place back at once.
    const leaving = new AbortController();
    const left = fetch(`${proxy.url}/api/transcribe`, { method: 'POST', body: shortWav, signal: leaving.signal }).catch((e: Error) => e.name);
    await untilAsync(async () => (await held(proxy, 'rest')) > 0, 10_000, 20);
    leaving.abort();
    expect(await left).toBe('AbortError');
    const before = await held(proxy, 'rest');
    const answer = fetch(`${proxy.url}/api/transcribe`, { method: 'POST', body: shortWav });
    await untilAsync(async () => (await held(proxy, 'rest')) > before, 10_000, 20);
    // The proxy holds one request at most (maxHeldRequests 1): the next is told so, not queued.
    const refused = await fetch(`${proxy.url}/api/transcribe`, { method: 'POST', body: shortWav });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ code: 'overloaded', error: expect.stringContaining('STT_PROXY_MAX_HELD_REQUESTS') });
    expect(await (await fetch(`${proxy.url}/metrics`)).text()).toMatch(/^stt_proxy_refusals_total\{[^}]*reason="held_full"[^}]*\} 1$/m);
    await way.up();
    const r = await answer;
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ text: WORDS, backend: 'cpu' });
  });
});

describe('past the hold (STT_PROXY_HOLD_MS), the error it had before, saying how long it waited', () => {
  it('/ws/transcribe: the waiting flush is answered engine_unavailable, and the session goes on once a member is back', async () => {
    const c = await TestClient.connect(`${brief.ws}/ws/transcribe`);
    c.sendAudio(speech);
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS });
    await way.down();
    c.sendAudio(speech);
    c.flush();
    const lost = await c.next<Reply>(10_000);
    expect(lost).toMatchObject({ type: 'error', code: 'engine_unavailable', seq: 2 });
    expect(lost.error).toMatch(/no transcription service is reachable for \d+ ms/);
    await way.up();
    c.sendAudio(speech);
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 3, text: WORDS });
    await c.close();
  });

  it('REST: 502 unreachable', async () => {
    await way.down();
    const r = await fetch(`${brief.url}/api/transcribe`, { method: 'POST', body: shortWav });
    expect(r.status).toBe(502);
    const body = (await r.json()) as { code: string; error: string };
    expect(body.code).toBe('unreachable');
    expect(body.error).toContain(`held ${SHORT_HOLD_MS} ms for a member to come back (STT_PROXY_HOLD_MS)`);
  });
});
