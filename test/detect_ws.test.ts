import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, parseServiceConfig, startService, type DetectReply, type RunningService, type ServiceConfig } from '@vtuber-stt/core';
import pino from 'pino';
import { fixtureModel, loadClip, manifest } from './helpers/fixtures.js';
import { syntheticModel } from './helpers/synthetic_model.js';
import { energyOnset, frameF1, labelledOnset, vadIntervals } from './helpers/vad_labels.js';
import { TestClient } from './helpers/ws_client.js';

type Reply = DetectReply & { error?: string; code?: string };

async function startDetect(env: Record<string, string>, overrides: Partial<ServiceConfig> = {}): Promise<RunningService & { ws: string }> {
  const config = parseServiceConfig(
    { name: 'stt_tiny_test', role: 'detect', port: 0, model: 'tiny', modelEnv: 'STT_TINY_MODEL', device: 'cpu', detector: 'silero' },
    ['node', 'test'],
    { STT_THREADS: '2', ...env },
  );
  const service = await startService({ ...config, ...overrides }, { logger: pino({ level: 'silent' }) });
  await service.ready;
  return { ...service, ws: `${service.url.replace(/^http/, 'ws')}/ws/detect` };
}

/** Streams a clip in chunks of `chunkSamples` and returns the one reply each chunk gets, in order. */
async function stream(url: string, pcm: Float32Array, chunkSamples = 512): Promise<Reply[]> {
  return streamUntil(url, pcm, chunkSamples, 0, () => true);
}

/**
 * Streams a clip at a paced rate, then keeps sending 100 ms of silence every 50 ms until `done`
 * holds for the replies so far (Whisper's opinions arrive asynchronously) or 20 s pass.
 */
async function streamUntil(url: string, pcm: Float32Array, chunkSamples: number, paceMs: number, done: (replies: Reply[]) => boolean): Promise<Reply[]> {
  const c = await TestClient.connect(url);
  const bytes = encodeS16le(pcm);
  const replies: Reply[] = [];
  let sent = 0;
  const send = async (chunk: Buffer) => {
    c.ws.send(chunk);
    sent++;
    if (paceMs) await new Promise((r) => setTimeout(r, paceMs));
  };
  const collect = async () => {
    while (replies.length < sent) replies.push(await c.next<Reply>());
  };
  for (let i = 0; i < bytes.length; i += chunkSamples * 2) await send(bytes.subarray(i, i + chunkSamples * 2));
  await collect();
  const silence = Buffer.alloc(3200);
  const deadline = Date.now() + 20_000;
  while (!done(replies) && Date.now() < deadline) {
    await send(silence);
    await new Promise((r) => setTimeout(r, 50));
    await collect();
  }
  await c.close();
  return replies;
}

const rows = manifest();
const speechClips = rows.filter((r) => r.category === 'speech').map((r) => r.file);
const quietClips = rows.filter((r) => r.category === 'non_speech' || r.category === 'synthetic_non_speech').map((r) => r.file);

describe('/ws/detect with Silero on real recordings', () => {
  let service: RunningService & { ws: string };
  beforeAll(async () => {
    service = await startDetect({}, { limits: { maxConnections: 8, maxQueue: 8, maxFrameBytes: 64 * 1024, maxBufferSeconds: 30 } });
  });
  afterAll(async () => service?.close());

  it('answers every chunk exactly once, in order, whatever its size', async () => {
    const clip = loadClip('speechbrain/spk1_snt1.wav');
    for (const size of [100, 333, 512, 1600, 7000]) {
      const replies = await stream(service.ws, clip, size);
      expect(replies).toHaveLength(Math.ceil(clip.length / size));
      const offsets = replies.map((r) => r.offset_ms);
      expect(offsets.at(-1)).toBe(Math.round((clip.length / 16000) * 1000));
      for (let i = 1; i < offsets.length; i++) expect(offsets[i]!).toBeGreaterThanOrEqual(offsets[i - 1]!);
      expect(replies.every((r) => r.type === 'detect' && typeof r.speech_detected === 'boolean')).toBe(true);
      expect(replies.some((r) => r.speech_detected)).toBe(true);
    }
  });

  it.each(speechClips)('detects %s within its first second of speech', async (clip) => {
    const pcm = loadClip(clip);
    const onsetMs = (labelledOnset(clip) ?? energyOnset(pcm)) * 1000;
    const replies = await stream(service.ws, pcm, 512);
    const first = replies.find((r) => r.speech_start !== undefined);
    expect(first, 'no speech_start at all').toBeDefined();
    // Announced (the reply's own offset) no later than one second into the speech.
    expect(first!.offset_ms).toBeLessThanOrEqual(onsetMs + 1000);
    expect(first!.speech_detected).toBe(true);
  });

  it.each(quietClips)('keeps %s false for at least 95 %% of its chunks', async (clip) => {
    const replies = await stream(service.ws, loadClip(clip), 512);
    const rate = replies.filter((r) => r.speech_detected).length / replies.length;
    expect(rate).toBeLessThanOrEqual(0.05);
  });

  it.each([
    ['speechbrain/VAD_train.wav', 4, 0.9],
    ['speechbrain/VAD_valid.wav', 8, 0.9],
    ['mfa/LONG_michaelandsickmichael.wav', 52.4, 0.8],
  ])('frame-level F1 on %s (labelled %s s) is at least %s', async (clip, span, floor) => {
    const replies = await stream(service.ws, loadClip(clip), 512);
    const score = frameF1(
      replies.map((r) => r.speech_detected),
      vadIntervals(clip)!,
      span,
    );
    console.log(`F1 ${clip}: ${score.f1.toFixed(3)} (precision ${score.precision.toFixed(3)}, recall ${score.recall.toFixed(3)})`);
    expect(score.f1).toBeGreaterThanOrEqual(floor);
  });

  it('pairs every speech_start with a speech_end across a pause-separated recording', async () => {
    const clip = loadClip('coqui-tts-ljspeech/LONG_LJ001-0001_to_0008_concat.wav');
    const withTail = new Float32Array(clip.length + 16000); // a second of silence ends the last utterance
    withTail.set(clip);
    const replies = await stream(service.ws, withTail, 1600);
    const starts = replies.filter((r) => r.speech_start !== undefined).map((r) => r.speech_start!);
    const ends = replies.filter((r) => r.speech_end !== undefined).map((r) => r.speech_end!);
    expect(starts.length).toBeGreaterThanOrEqual(4);
    expect(ends.length).toBe(starts.length);
    starts.forEach((s, i) => expect(ends[i]!).toBeGreaterThan(s));
  });

  it('converts 48 kHz float32 declared in the query string', async () => {
    const clip = loadClip('speechbrain/spk1_snt1.wav');
    const up = new Float32Array(clip.length * 3);
    for (let i = 0; i < up.length; i++) up[i] = clip[Math.floor(i / 3)]!;
    const c = await TestClient.connect(`${service.ws}?sample_rate=48000&encoding=f32le`);
    const bytes = Buffer.from(up.buffer);
    const chunk = 4800 * 4;
    let n = 0;
    for (let i = 0; i < bytes.length; i += chunk, n++) c.ws.send(bytes.subarray(i, i + chunk));
    const replies: Reply[] = [];
    for (let i = 0; i < n; i++) replies.push(await c.next<Reply>());
    expect(replies.some((r) => r.speech_start !== undefined)).toBe(true);
    expect(replies.at(-1)!.offset_ms).toBeGreaterThan(2800);
    await c.close();
  });

  it('answers bad input with an error and keeps detecting', async () => {
    const c = await TestClient.connect(service.ws);
    c.ws.send(Buffer.from([1, 2, 3]));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_audio' });
    c.ws.send(Buffer.alloc(64 * 1024 + 2));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'frame_too_large' });
    c.ws.send('not json');
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message' });
    c.ws.send(JSON.stringify({ type: 'config', threshold: 2 }));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message' });
    c.ws.send(JSON.stringify({ type: 'config', threshold: 0.3, neg_threshold: 0.5 }));
    expect(await c.next<{ error: string }>()).toMatchObject({ code: 'bad_message', error: expect.stringContaining('neg_threshold') });
    c.ws.send(JSON.stringify({ type: 'config', threshold: 0.6, hangover_ms: 300 }));
    expect(await c.next()).toMatchObject({ type: 'config', threshold: 0.6, hangover_ms: 300, detector: 'silero' });
    c.ws.send(Buffer.alloc(1024));
    expect(await c.next()).toMatchObject({ type: 'detect', speech_detected: false, offset_ms: 32 });
    await c.close();
  });

  it('reports itself on /ready and /metrics', async () => {
    expect(await fetch(`${service.url}/ready`).then((r) => r.json())).toMatchObject({ ready: true, role: 'detect', detector: 'silero', model: null });
    const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/stt_requests_total\{[^}]*outcome="speech"/);
  });
});

describe('/ws/detect with Whisper tiny', () => {
  const speech = loadClip('picovoice-leopard/test_en.wav');

  it('hybrid: Whisper confirms an utterance in which it hears words', async () => {
    const service = await startDetect({ STT_DETECTOR: 'hybrid', STT_TINY_MODEL: syntheticModel(fixtureModel('tiny'), 5, { layers: 1 }) });
    try {
      const replies = await streamUntil(service.ws, speech, 1600, 20, (rs) => rs.some((r) => r.speech_confirmed !== undefined || r.speech_withdrawn !== undefined));
      const start = replies.find((r) => r.speech_start !== undefined)!.speech_start;
      const confirmed = replies.find((r) => r.speech_confirmed !== undefined);
      expect(confirmed?.speech_confirmed).toBe(start);
      expect(confirmed?.text).toBeTruthy();
      expect(replies.some((r) => r.speech_withdrawn !== undefined)).toBe(false);
      expect(await fetch(`${service.url}/ready`).then((r) => r.json())).toMatchObject({ detector: 'hybrid', backend: '@napi-rs/whisper' });

      // With finals waiting (the engine held by a job of the test's own, a final behind it), the
      // check is shed: counted, never queued, and Silero's decision stands.
      const queue = service.state.verifier!.queue;
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const jobs = [queue.push(() => held), queue.push(async () => 'final')];
      expect(queue.shouldShed()).toBe(true);
      const shed = async () => Number(/^stt_shed_total\{[^}]*kind="detector"[^}]*\} (\d+)/m.exec(await fetch(`${service.url}/metrics`).then((r) => r.text()))?.[1] ?? 0);
      const unchecked = await streamUntil(service.ws, speech, 1600, 0, (rs) => rs.some((r) => r.speech_end !== undefined));
      expect(unchecked.some((r) => r.speech_start !== undefined) && unchecked.some((r) => r.speech_end !== undefined)).toBe(true);
      expect(queue.depth).toBe(2);
      expect(await shed()).toBe(1);
      expect(unchecked.some((r) => r.speech_confirmed !== undefined || r.speech_withdrawn !== undefined)).toBe(false);
      release();
      expect(await Promise.all(jobs)).toEqual([undefined, 'final']);
    } finally {
      await service.close();
    }
  });

  it('hybrid: Whisper withdraws an utterance in which it hears nothing, and the rest of it stays silent', async () => {
    // The weightless fixture model never produces a word: every segment is, to it, a cough.
    const service = await startDetect({ STT_DETECTOR: 'hybrid', STT_TINY_MODEL: fixtureModel('tiny') });
    try {
      const replies = await streamUntil(service.ws, speech, 1600, 20, (rs) => rs.some((r) => r.speech_withdrawn !== undefined || r.speech_confirmed !== undefined));
      const start = replies.find((r) => r.speech_start !== undefined)!.speech_start;
      const at = replies.findIndex((r) => r.speech_withdrawn !== undefined);
      expect(at).toBeGreaterThan(0);
      expect(replies[at]!.speech_withdrawn).toBe(start);
      const after = replies.slice(at);
      // Until a new utterance starts, nothing counts as speech and no speech_end is sent for it.
      const next = after.findIndex((r) => r.speech_start !== undefined);
      const rest = next < 0 ? after : after.slice(0, next);
      expect(rest.every((r) => !r.speech_detected && r.speech_end === undefined)).toBe(true);
    } finally {
      await service.close();
    }
  });

  it('whisper mode: tiny alone opens an utterance when it hears words, and never without', async () => {
    const talking = await startDetect({ STT_DETECTOR: 'whisper', STT_TINY_MODEL: syntheticModel(fixtureModel('tiny'), 5, { layers: 1 }) });
    const mute = await startDetect({ STT_DETECTOR: 'whisper', STT_TINY_MODEL: fixtureModel('tiny') });
    try {
      const heard = await streamUntil(talking.ws, speech, 1600, 20, (rs) => rs.some((r) => r.speech_start !== undefined));
      expect(heard.some((r) => r.speech_start !== undefined)).toBe(true);
      expect(heard.every((r) => r.probability === undefined)).toBe(true);
      // Long enough for several of tiny's verdicts to come back (each window takes it ~1 s here).
      const chunks = Math.ceil(speech.length / 1600);
      const silent = await streamUntil(mute.ws, speech, 1600, 20, (rs) => rs.length >= chunks + 40);
      expect(silent.every((r) => !r.speech_detected && r.speech_start === undefined)).toBe(true);
    } finally {
      await talking.close();
      await mute.close();
    }
  });
});
