import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, NapiWhisperEngine, type TranscriptMessage } from '@vtuber-stt/core';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestService } from './helpers/service.js';
import { syntheticModel, syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';
import { until } from './helpers/wait.js';

type Reply = TranscriptMessage & { error?: string; code?: string };

const jfk = encodeS16le(loadClip('whisper.cpp/jfk.wav'));
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
const silence = encodeS16le(loadClip('generated/silence_10s.wav'));
const noise = encodeS16le(loadClip('generated/whitenoise_-30dBFS_10s.wav'));
const pink = encodeS16le(loadClip('generated/pinknoise_10s.wav'));
const ms = (pcm: Buffer) => Math.round((pcm.length / 2 / 16000) * 1000);
/** What the test model says for any speech (see helpers/synthetic_model.ts). */
const WORDS = syntheticText(fixtureModel('base'), 20);

describe('/ws/transcribe over a real connection', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    service = await startTestService({ limits: { maxConnections: 6, maxQueue: 8, maxFrameBytes: 64 * 1024, maxBufferSeconds: 30 } });
  });
  afterAll(async () => service?.close());

  it('transcribes fixture speech streamed in 100 ms chunks and flushed', async () => {
    const c = await TestClient.connect(service.ws);
    c.sendAudio(jfk);
    c.flush();
    const reply = await c.next<Reply>();
    expect(reply.type).toBe('transcript');
    expect(reply.seq).toBe(1);
    expect(reply.text).toBe(WORDS);
    expect(reply.audio_ms).toBe(ms(jfk));
    // The VAD heard speech, so the engine ran on it.
    expect(reply.speech_ms).toBeGreaterThan(3000);
    expect(reply.inference_ms).toBeGreaterThan(0);
    expect(reply.latency_ms).toBeGreaterThanOrEqual(reply.inference_ms);
    expect(reply.segments).toHaveLength(1);
    const [segment] = reply.segments;
    expect(segment!.text).toBe(WORDS);
    // On the flush's own timeline, inside the audio that was sent.
    expect(segment!.start_ms).toBeGreaterThanOrEqual(0);
    expect(segment!.end_ms).toBeGreaterThan(segment!.start_ms);
    expect(segment!.end_ms).toBeLessThanOrEqual(reply.audio_ms);
    expect(reply.language).toBe('en'); // auto-detected by the model
    await c.close();
  });

  it('transcribes an utterance shorter than a second (whisper.cpp skips those unless padded)', async () => {
    const short = encodeS16le(loadClip('picovoice-leopard/test_en.wav').subarray(8000, 8000 + 11200)); // 0.7 s of speech
    const c = await TestClient.connect(service.ws);
    c.sendAudio(short);
    c.flush();
    const reply = await c.next<Reply>();
    expect(reply).toMatchObject({ type: 'transcript', text: WORDS, audio_ms: 700 });
    expect(reply.segments[0]!.end_ms).toBeLessThanOrEqual(700);
    await c.close();
  });

  it('answers several flushes in flush order, each with its own audio', async () => {
    const c = await TestClient.connect(service.ws);
    const parts = [jfk, speech.subarray(0, 3200 * 5), speech];
    for (const p of parts) {
      c.sendAudio(p);
      c.flush();
    }
    c.flush(); // empty
    const replies = [await c.next<Reply>(), await c.next<Reply>(), await c.next<Reply>(), await c.next<Reply>()];
    expect(replies.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(replies.slice(0, 3).map((r) => r.audio_ms)).toEqual(parts.map(ms));
    expect(replies[0]!.text).toBe(WORDS);
    expect(replies[2]!.text).toBe(WORDS);
    expect(replies[3]).toMatchObject({ type: 'transcript', text: '', audio_ms: 0 });
    await c.close();
  });

  it('keeps concurrent clients isolated', async () => {
    const [a, b, d] = await Promise.all([TestClient.connect(service.ws), TestClient.connect(service.ws), TestClient.connect(service.ws)]);
    a.sendAudio(jfk);
    b.sendAudio(speech);
    d.sendAudio(silence);
    a.flush();
    b.flush();
    d.flush();
    const [ra, rb, rd] = await Promise.all([a.next<Reply>(), b.next<Reply>(), d.next<Reply>()]);
    expect(ra).toMatchObject({ seq: 1, audio_ms: ms(jfk), text: WORDS });
    expect(rb).toMatchObject({ seq: 1, audio_ms: ms(speech), text: WORDS });
    expect(rd).toMatchObject({ seq: 1, audio_ms: ms(silence), text: '', dropped: 'no_speech' });
    await Promise.all([a.close(), b.close(), d.close()]);
  });

  it.each([
    ['silence', silence],
    ['white noise', noise],
    ['pink noise', pink],
  ])('answers "" for %s without running Whisper', async (_name, pcm) => {
    const c = await TestClient.connect(service.ws);
    c.sendAudio(pcm);
    c.flush();
    const reply = await c.next<Reply>();
    expect(reply).toMatchObject({ type: 'transcript', text: '', segments: [], dropped: 'no_speech', inference_ms: 0 });
    await c.close();
  });

  it('answers an empty flush with empty text', async () => {
    const c = await TestClient.connect(service.ws);
    c.flush();
    expect(await c.next<Reply>()).toMatchObject({ type: 'transcript', seq: 1, text: '', audio_ms: 0 });
    await c.close();
  });

  it('rejects bad input with an error and keeps the connection working', async () => {
    const c = await TestClient.connect(service.ws);
    c.sendAudio(speech.subarray(0, 3200));
    c.ws.send(Buffer.from([1, 2, 3])); // odd byte count
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_audio' });
    c.ws.send(Buffer.alloc(64 * 1024 + 2)); // over maxFrameBytes
    const big = await c.next<{ error: string; code: string }>();
    expect(big.code).toBe('frame_too_large');
    expect(big.error).toContain('STT_MAX_FRAME_BYTES');
    c.ws.send('hello');
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message' });
    c.ws.send('{"type": "config", "language": ');
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message' });
    c.ws.send(JSON.stringify({ type: 'explode' }));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message' });
    c.ws.send(JSON.stringify({ type: 'config', language: 'klingon!' }));
    const lang = await c.next<{ error: string }>();
    expect(lang.error).toContain('language');
    c.ws.send('<FLUSH>'); // the command is exact
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message' });
    // Only the accepted 100 ms is transcribed; the refused frames were not buffered.
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 1, audio_ms: 100 });
    await c.close();
  });

  it('applies config and reset messages', async () => {
    const c = await TestClient.connect(service.ws);
    c.ws.send(JSON.stringify({ type: 'config', language: 'ko', prompt: '치지직, 뿌뿌' }));
    expect(await c.next()).toMatchObject({ type: 'config', language: 'ko', prompt: '치지직, 뿌뿌', sample_rate: 16000 });
    c.sendAudio(speech);
    c.ws.send(JSON.stringify({ type: 'reset' }));
    expect(await c.next()).toMatchObject({ type: 'reset', discarded_ms: ms(speech) });
    c.sendAudio(jfk);
    c.ws.send(JSON.stringify({ type: 'config', sample_rate: 48000 }));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message' });
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', language: 'ko', audio_ms: ms(jfk) });
    await c.close();
  });

  it('resamples 48 kHz float32 declared in the query string', async () => {
    const clip = loadClip('speechbrain/spk1_snt1.wav');
    // 16 kHz -> 48 kHz by repeating samples is crude, but the server must still see the right duration and speech.
    const up = new Float32Array(clip.length * 3);
    for (let i = 0; i < up.length; i++) up[i] = clip[Math.floor(i / 3)]!;
    const bytes = Buffer.from(up.buffer);
    const c = await TestClient.connect(`${service.ws}?sample_rate=48000&encoding=f32le`);
    c.sendAudio(bytes, 48000 * 4 * 0.1);
    c.flush();
    const reply = await c.next<Reply>();
    expect(reply.audio_ms).toBe(Math.round((clip.length / 16000) * 1000));
    expect(reply.speech_ms).toBeGreaterThan(500);
    await c.close();
  });

  it('refuses a bad query string with a reason', async () => {
    const c = new TestClient(`${service.ws}?encoding=mp3`);
    const reply = await c.next<{ error: string }>();
    expect(reply.error).toContain('encoding');
    const closed = await c.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toBe('bad query string: encoding must be s16le or f32le (got "mp3")');
  });

  it('refuses audio past the buffer limit and says so, keeping what was accepted', async () => {
    const c = await TestClient.connect(service.ws);
    const oneSecond = Buffer.alloc(32000);
    for (let i = 0; i < 30; i++) c.ws.send(oneSecond);
    c.ws.send(oneSecond); // second 31
    const refused = await c.next<{ code: string; error: string }>();
    expect(refused.code).toBe('buffer_full');
    expect(refused.error).toContain('STT_MAX_BUFFER_SECONDS');
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', audio_ms: 30_000 });
    await c.close();
  });

  it('survives a client that disconnects during inference, and serves the next one', async () => {
    const before = await fetch(`${service.url}/metrics`).then((r) => r.text());
    const c = await TestClient.connect(service.ws);
    c.sendAudio(jfk);
    c.flush();
    c.sendAudio(jfk);
    c.flush();
    // The client goes once its first flush is on the engine.
    await until(() => service.state.transcriber!.queue.busy, 10_000);
    c.ws.terminate();
    const d = await TestClient.connect(service.ws);
    d.sendAudio(speech);
    d.flush();
    expect(await d.next()).toMatchObject({ type: 'transcript', seq: 1, audio_ms: ms(speech) });
    const health = await fetch(`${service.url}/health`);
    expect(health.status).toBe(200);
    await d.close();
    expect(before).toContain('stt_requests_total');
  });

  it('replaces an inference worker that dies, answering the affected flush with an error', async () => {
    const engine = service.state.transcriber!.engine as NapiWhisperEngine;
    const before = engine.restarts;
    const c = await TestClient.connect(service.ws);
    // No speculation: the decode that dies must be this flush's own (a crash during a speculative
    // decode costs only that speculation; the final is decoded on the replacement worker).
    // And a fixed language: no background language check for the crash to hit instead.
    c.ws.send(JSON.stringify({ type: 'config', speculate_ms: 5000, language: 'en' }));
    expect(await c.next()).toMatchObject({ type: 'config', speculate_ms: 5000, language: 'en' });
    c.sendAudio(jfk);
    c.flush();
    // Once the engine has this flush's decode, the worker dies as if it had crashed mid-decode.
    await until(() => service.state.transcriber!.queue.busy, 10_000);
    await engine['worker'].terminate();
    const lost = await c.next<Reply>();
    expect(lost).toMatchObject({ type: 'error', code: 'engine_unavailable', seq: 1 });
    c.sendAudio(speech);
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 2, text: WORDS });
    expect(engine.restarts).toBe(before + 1);
    await c.close();
  });

  it('closes connections past the limit with 1013 and a reason', async () => {
    const clients = await Promise.all(Array.from({ length: 6 }, () => TestClient.connect(service.ws)));
    const extra = new TestClient(service.ws);
    const closed = await extra.closed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toContain('STT_MAX_CONNECTIONS');
    await Promise.all(clients.map((c) => c.close()));
    // A slot is free again.
    const again = await TestClient.connect(service.ws);
    again.flush();
    expect(await again.next()).toMatchObject({ type: 'transcript' });
    await again.close();
  });

  describe('the queue bound under load (the engine held by a job of the test\'s own)', () => {
    /** Holds the engine until released, as a long decode would. */
    const holdEngine = () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const job = service.state.transcriber!.queue.push(() => held);
      return { job, release };
    };
    /** jfk and half a second of silence: the pause starts a speculative decode. */
    const paused = Buffer.concat([jfk, silence.subarray(0, 16000)]);
    const connectEn = async () => {
      const c = await TestClient.connect(service.ws);
      c.ws.send(JSON.stringify({ type: 'config', language: 'en' })); // no language check in the way
      expect(await c.next()).toMatchObject({ type: 'config', language: 'en' });
      return c;
    };
    const shed = async (kind: string) => Number(new RegExp(`^stt_shed_total\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)`, 'm').exec(await fetch(`${service.url}/metrics`).then((r) => r.text()))?.[1] ?? 0);

    it('never makes a refused speculation the final\'s answer, and never promotes a final past STT_MAX_QUEUE: past it, overloaded at once', async () => {
      const queue = service.state.transcriber!.queue;
      const engine = holdEngine();
      // The optional class full (2 of STT_MAX_QUEUE / 4): the connection's speculation is refused.
      let releaseOptional!: () => void;
      const optionalHeld = new Promise<void>((r) => (releaseOptional = r));
      const optional = [0, 1].map(() => queue.schedule(() => optionalHeld, { priority: 'background' }).result);
      const a = await connectEn();
      a.sendAudio(paused);
      a.flush();
      await until(() => queue.finalsWaiting === 1);
      releaseOptional();
      engine.release();
      await Promise.all([engine.job, ...optional]);
      // Decoded on its own, not "inference queue is full (2 waiting)".
      expect(await a.next<Reply>()).toMatchObject({ type: 'transcript', text: WORDS, speculative: 'none' });

      // Its speculation waits, then the finals' class fills: the flush cannot be promoted past it.
      const again = holdEngine();
      a.sendAudio(paused);
      await until(() => queue.depth === 2);
      const finals = Array.from({ length: queue.limit }, (_, i) => queue.push(async () => i));
      a.flush();
      const refused = await a.next<Reply>();
      expect(refused).toMatchObject({ type: 'error', code: 'overloaded' });
      expect(refused.error).toContain(`(${queue.limit} waiting, STT_MAX_QUEUE)`);
      expect(queue.finalsWaiting).toBe(queue.limit);
      expect(queue.depth).toBe(queue.limit + 1); // its speculation dropped with it
      again.release();
      expect(await Promise.all(finals)).toEqual([...Array(queue.limit).keys()]);
      // The connection goes on.
      a.sendAudio(jfk);
      a.flush();
      expect(await a.next<Reply>()).toMatchObject({ type: 'transcript', text: WORDS });
      await a.close();
    });

    it('sheds a speculative decode while finals wait (counted), and the final still answers', async () => {
      const queue = service.state.transcriber!.queue;
      const before = await shed('speculative');
      const engine = holdEngine();
      let releaseFinal!: () => void;
      const waiting = queue.push(() => new Promise<void>((r) => (releaseFinal = r)));
      expect(queue.shouldShed()).toBe(true);
      const a = await connectEn();
      // 0.7 s of speech without a pause of its own, then one: one speculation due.
      const short = encodeS16le(loadClip('picovoice-leopard/test_en.wav').subarray(8000, 8000 + 11200));
      a.sendAudio(Buffer.concat([short, silence.subarray(0, 16000)]));
      a.flush();
      await until(() => queue.finalsWaiting === 2);
      expect(queue.depth).toBe(3); // nothing below the finals
      engine.release();
      await until(() => queue.finalsWaiting === 1);
      releaseFinal();
      await waiting;
      expect(await a.next<Reply>()).toMatchObject({ type: 'transcript', text: WORDS, speculative: 'none' });
      expect(await shed('speculative')).toBe(before + 1); // once, though tried at every window of the pause
      await a.close();
    });
  });

  it('serves /health, /ready and Prometheus /metrics', async () => {
    // An error of its own to count (half a sample), whatever ran before.
    const c = await TestClient.connect(service.ws);
    c.ws.send(Buffer.alloc(3));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_audio' });
    await c.close();
    expect(await fetch(`${service.url}/health`).then((r) => r.json())).toMatchObject({ ok: true });
    const ready = await fetch(`${service.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, device: 'cpu', backend: '@napi-rs/whisper' });
    const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
    for (const name of ['stt_requests_total', 'stt_request_latency_seconds_bucket', 'stt_audio_seconds_total', 'stt_queue_depth', 'stt_errors_total', 'stt_inference_seconds']) {
      expect(metrics).toContain(name);
    }
    expect(metrics).toMatch(/stt_errors_total\{[^}]*code="bad_audio"[^}]*\} [1-9]/);
  });
});

describe('hallucination filtering end to end', () => {
  it('answers "" when the model says only a known outro, even for speech', async () => {
    const service = await startTestService({ model: syntheticModel(fixtureModel('tiny'), ' Thanks| for| watching|!', { layers: 1 }) });
    try {
      const c = await TestClient.connect(service.ws);
      c.sendAudio(speech);
      c.flush();
      expect(await c.next()).toMatchObject({ type: 'transcript', text: '', segments: [], dropped: 'hallucination' });
      await c.close();
    } finally {
      await service.close();
    }
  });
});

describe('long flushes and repetition loops', () => {
  /** One tiny-model service for the long-flush tests (the loop tests need models of their own). */
  let tiny: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    tiny = await startTestService({ model: syntheticModel(fixtureModel('tiny'), 20, { layers: 1 }) });
  });
  afterAll(async () => tiny?.close());

  it('decodes a 65 s flush in windows (three), serving another connection between them', async () => {
    const service = tiny;
    const words = syntheticText(fixtureModel('tiny'), 20);
    const long = loadClip('coqui-tts-ljspeech/LONG_LJ001-0001_to_0008_concat.wav');
    const pcm = new Float32Array(65 * 16000);
    for (let o = 0; o < pcm.length; o += long.length) pcm.set(long.subarray(0, Math.min(long.length, pcm.length - o)), o);
    const a = await TestClient.connect(service.ws);
    const b = await TestClient.connect(service.ws);
    a.sendAudio(encodeS16le(pcm), 256 * 1024);
    a.flush();
    // Once A's first window is on the engine, B flushes a short utterance.
    await until(() => service.state.transcriber!.queue.busy, 30_000);
    b.sendAudio(speech);
    b.flush();
    const order: string[] = [];
    const [ra, rb] = await Promise.all([
      a.next<Reply>(120_000).then((r) => (order.push('a'), r)),
      b.next<Reply>(120_000).then((r) => (order.push('b'), r)),
    ]);
    // B waited for one window of A's, not for all of them.
    expect(order).toEqual(['b', 'a']);
    expect(rb).toMatchObject({ type: 'transcript', text: words });
    // Every window was decoded: the words once per window, segment times across the whole 65 s.
    expect(ra.type).toBe('transcript');
    const windows = ra.text.split(words).length - 1;
    expect(windows).toBeGreaterThanOrEqual(3);
    const segments = (ra as unknown as TranscriptMessage).segments;
    expect(segments.length).toBe(windows);
    expect(segments.at(-1)!.start_ms).toBeGreaterThan(50_000);
    await Promise.all([a.close(), b.close()]);
  });

  it('stops a dropped long decode at the window under way (a speculation overtaken by more speech)', async () => {
    const transcriber = tiny.state.transcriber!;
    const pcm = new Float32Array(100 * 16000).map((_, i) => 0.3 * Math.sin(i * 0.05));
    const decode = transcriber.submit(pcm, transcriber.plan(pcm.length, undefined)!, 'speculative');
    await until(() => decode.job.started, 30_000);
    // Under way: it cannot be taken back whole, but what is left of it is not run.
    expect(decode.job.cancel()).toBe(false);
    await expect(decode.transcript).rejects.toMatchObject({ code: 'aborted' });
    expect(transcriber.queue.busy).toBe(false);
    expect(transcriber.queue.depth).toBe(0);
  });

  it('bounds a looping decode by what the audio could say (a token budget), not by whisper\'s 220-token limit', async () => {
    const engine = await NapiWhisperEngine.load(syntheticModel(fixtureModel('tiny'), ` Hello| world${'| the'.repeat(40)}`, { layers: 1 }), 'cpu');
    try {
      const audio = new Float32Array(2 * 16000).map((_, i) => 0.3 * Math.sin(i * 0.05));
      const out = await engine.transcribe(audio, { language: 'en', prompt: '', translate: false, threads: 2, audioCtx: 128, maxTokens: 12 });
      const words = out.text.split(/\s+/).filter(Boolean);
      expect(words.slice(0, 3)).toEqual(['Hello', 'world', 'the']);
      // The timestamp token counts too: at most 12 tokens, so at most 11 words.
      expect(words.length).toBeLessThanOrEqual(12);
      expect(words.length).toBeGreaterThan(5);
    } finally {
      await engine.close();
    }
  });

  it('guards against a model that loops: decodes again in the full window, then cuts the repeated tail and says so', async () => {
    const looping = ` Hello| world${'| the'.repeat(40)}`;
    const service = await startTestService({ model: syntheticModel(fixtureModel('tiny'), looping, { layers: 1 }) });
    try {
      const c = await TestClient.connect(service.ws);
      // 0.6 s: a loop costs whisper.cpp six fallback temperatures, each up to this audio's token budget (47 tokens).
      c.sendAudio(speech.subarray(0, 0.6 * 16000 * 2));
      c.flush();
      const reply = await c.next<Reply & { repetition?: string; audio_ctx: number }>();
      expect(reply).toMatchObject({ type: 'transcript', text: 'Hello world the', repetition: 'cut' });
      // The second decode was the full 30 s window (0), where the first was sized to the audio.
      expect(reply.audio_ctx).toBe(0);
      const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/stt_repetition_total\{outcome="cut"[^}]*\} 1\b/);
      await c.close();
    } finally {
      await service.close();
    }
  });
});
