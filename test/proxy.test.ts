import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, type RunningService } from '@vtuber-stt/core';
import { parseProxyConfig, startProxy } from '@vtuber-stt/proxy';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { spawnService, type ServiceProcess } from './helpers/processes.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService, TEST_MODEL } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { startTcpTap } from './helpers/tcp_tap.js';
import { TestClient } from './helpers/ws_client.js';
import { until } from './helpers/wait.js';

type Reply = { type: string; seq?: number; text?: string; backend?: string; code?: string; error?: string; speech_detected?: boolean };
const json = (r: Response): Promise<any> => r.json();
const WORDS = syntheticText(fixtureModel('base'), 20);
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
const jfkWav = readFileSync(audioPath('whisper.cpp/jfk.wav'));
const shortWav = readFileSync(audioPath('speechbrain/spk1_snt1.wav'));

async function flushOnce(ws: string): Promise<Reply> {
  const c = await TestClient.connect(`${ws}/ws/transcribe`);
  c.sendAudio(speech);
  c.flush();
  const reply = await c.next<Reply>();
  await c.close();
  return reply;
}

describe('proxy routing, toggle, REST and OpenAI routes', () => {
  let cpu: RunningService;
  let gpu: RunningService;
  let detect: ServiceProcess;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;

  beforeAll(async () => {
    // The "gpu" backend is a second real transcription service: routing is what is under test here.
    [cpu, gpu, detect] = await Promise.all([
      startTestService(),
      startTestService(),
      spawnService('stt/tiny_ws/src/main.ts', { STT_DETECTOR: 'silero' }),
    ]);
    proxy = await startTestProxy({ cpu: cpu.url, gpu: gpu.url, detect: detect.url });
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([cpu?.close(), gpu?.close(), detect?.stop()]);
  });

  it('reports every backend in /api/status', async () => {
    // Whatever ran before has drained from the queue by the proxy's next poll.
    let status = await fetch(`${proxy.url}/api/status`).then(json);
    for (let i = 0; i < 100 && status.backends.cpu.queue_depth !== 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await fetch(`${proxy.url}/api/status`).then(json);
    }
    expect(status).toMatchObject({ gpu_enabled: false, transcribe_route: 'cpu' });
    for (const name of ['cpu', 'gpu', 'detect']) expect(status.backends[name]).toMatchObject({ name, state: 'ready' });
    expect(status.backends.cpu).toMatchObject({ device: 'cpu', backend: '@napi-rs/whisper', queue_depth: 0 });
  });

  it('routes each new session by the GPU toggle', async () => {
    expect(await flushOnce(proxy.ws)).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, backend: 'cpu' });
    const on = await fetch(`${proxy.url}/api/gpu`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: true }) });
    expect(await json(on)).toMatchObject({ enabled: true, transcribe_route: 'gpu' });
    expect(await flushOnce(proxy.ws)).toMatchObject({ backend: 'gpu', text: WORDS });
    expect((await fetch(`${proxy.url}/api/status`).then(json)).transcribe_route).toBe('gpu');
    await fetch(`${proxy.url}/api/gpu`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: false }) });
    expect(await flushOnce(proxy.ws)).toMatchObject({ backend: 'cpu' });
    const status = await fetch(`${proxy.url}/api/status`).then(json);
    expect(status.backends.cpu.p50_ms).toBeGreaterThan(0);
  });

  it('rejects a malformed toggle with 400', async () => {
    const bad = await fetch(`${proxy.url}/api/gpu`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: 'yes' }) });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error).toContain('enabled');
  });

  it('keeps the toggle across a restart', async () => {
    await fetch(`${proxy.url}/api/gpu`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: true }) });
    const again = await startProxy({ ...parseProxyConfig(['node', 'p'], { PORT: '0', STT_CPU_URL: cpu.url, STT_GPU_URL: gpu.url, STT_DETECT_URL: '' }), statePath: proxy.toggle.path }, pino({ level: 'silent' }));
    try {
      expect(await fetch(`${again.url}/api/gpu`).then(json)).toMatchObject({ enabled: true });
    } finally {
      await again.close();
      await fetch(`${proxy.url}/api/gpu`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: false }) });
    }
  });

  it('sends sessions to the CPU when the GPU is on but its backend is down', async () => {
    const lonely = await startTestProxy({ cpu: cpu.url, gpu: 'http://127.0.0.1:9' });
    try {
      await fetch(`${lonely.url}/api/gpu`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: true }) });
      expect(await flushOnce(lonely.ws)).toMatchObject({ backend: 'cpu', text: WORDS });
      const status = await fetch(`${lonely.url}/api/status`).then(json);
      expect(status.backends.gpu.state).toBe('down');
      expect(status.transcribe_route).toBe('cpu');
    } finally {
      await lonely.close();
    }
  });

  it('transcribes a posted WAV and raw PCM on /api/transcribe', async () => {
    const wav = await fetch(`${proxy.url}/api/transcribe?language=en`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: jfkWav });
    expect(wav.status).toBe(200);
    expect(await json(wav)).toMatchObject({ type: 'transcript', text: WORDS, language: 'en', audio_ms: 11000, backend: 'cpu' });
    const clip = loadClip('speechbrain/spk1_snt1.wav');
    const raw = await fetch(`${proxy.url}/api/transcribe?sample_rate=16000&encoding=f32le`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(clip.buffer) });
    expect(await json(raw)).toMatchObject({ text: WORDS, audio_ms: Math.round((clip.length / 16000) * 1000) });
  });

  it('answers bad REST bodies with 4xx and a message', async () => {
    const empty = await fetch(`${proxy.url}/api/transcribe`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: Buffer.alloc(0) });
    expect(empty.status).toBe(400);
    const odd = await fetch(`${proxy.url}/api/transcribe`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(3) });
    expect(odd.status).toBe(400);
    expect((await json(odd)).error).toMatch(/whole number/);
    const badWav = await fetch(`${proxy.url}/api/transcribe`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: Buffer.from('RIFF....WAVEjunk') });
    expect(badWav.status).toBe(400);
    const badRate = await fetch(`${proxy.url}/api/transcribe?sample_rate=12`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(4) });
    expect(badRate.status).toBe(400);
    const text = await fetch(`${proxy.url}/api/transcribe`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
  });

  it('serves /v1/audio/transcriptions in every OpenAI response format', async () => {
    // A 2.87 s clip: the formats are under test here, not the length of the decode.
    const post = (format?: string, file: Blob = new Blob([shortWav], { type: 'audio/wav' })) => {
      const form = new FormData();
      form.append('file', file, 'spk1_snt1.wav');
      form.append('model', 'whisper-1');
      form.append('language', 'en');
      if (format) form.append('response_format', format);
      return fetch(`${proxy.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    };
    expect(await json(await post())).toEqual({ text: WORDS, languages: [{ code: 'en' }] });
    expect(await (await post('text')).text()).toBe(`${WORDS}\n`);
    const verbose = await json(await post('verbose_json'));
    expect(verbose).toMatchObject({ task: 'transcribe', language: 'english', duration: 2.87, text: WORDS });
    expect(verbose.segments[0]).toMatchObject({ id: 0, text: WORDS });
    const { start, end } = verbose.segments[0] as { start: number; end: number };
    expect(end).toBeGreaterThan(start);
    expect(end).toBeLessThanOrEqual(2.87);
    // The same segment as SubRip and WebVTT cues, with its times written out to the millisecond.
    const clock = (sec: number, sep: string) => `00:00:${String(Math.floor(sec)).padStart(2, '0')}${sep}${String(Math.round(sec * 1000) % 1000).padStart(3, '0')}`;
    expect(await (await post('srt')).text()).toMatch(new RegExp(`^1\\n${clock(start, ',')} --> ${clock(end, ',')}\\n${WORDS}\\n`));
    expect(await (await post('vtt')).text()).toMatch(new RegExp(`^WEBVTT\\n\\n${clock(start, '.').replace('.', '\\.')} --> ${clock(end, '.').replace('.', '\\.')}\\n`));
    const badFormat = await post('xml');
    expect(badFormat.status).toBe(400);
    const mp3 = await post('json', new Blob([Buffer.from('ID3\u0003fake mp3')], { type: 'audio/mpeg' }));
    expect(mp3.status).toBe(400);
    expect((await json(mp3)).error).toMatchObject({ type: 'invalid_request_error', param: 'file', message: expect.stringMatching(/could not be decoded/) });
    const noFile = await fetch(`${proxy.url}/v1/audio/transcriptions`, { method: 'POST', body: (() => { const f = new FormData(); f.append('model', 'whisper-1'); return f; })() });
    expect(noFile.status).toBe(400);
  });

  it('passes /ws/detect through to the detection service', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/detect`);
    c.sendAudio(speech, 1024);
    const n = Math.ceil(speech.length / 1024);
    const replies: Reply[] = [];
    for (let i = 0; i < n; i++) replies.push(await c.next<Reply>());
    expect(replies.some((r) => r.speech_detected)).toBe(true);
    await c.close();
  });

  it('answers bad frames itself and keeps the session', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    c.ws.send(Buffer.alloc(3));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_audio' });
    c.ws.send('nonsense');
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message' });
    c.sendAudio(speech);
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS });
    await c.close();
  });

  it('checks frame sizes against the format the backend acknowledged last', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe?encoding=f32le`);
    c.ws.send(JSON.stringify({ type: 'config', encoding: 's16le' }));
    expect(await c.next()).toMatchObject({ type: 'config', encoding: 's16le' });
    c.sendAudio(speech, 3202); // whole 2-byte samples, not whole 4-byte ones
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS });
    c.ws.send(JSON.stringify({ type: 'config', encoding: 'f32le' }));
    expect(await c.next()).toMatchObject({ type: 'config', encoding: 'f32le' });
    c.ws.send(Buffer.alloc(6));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_audio', error: 'frame of 6 bytes is not a whole number of 4-byte samples' });
    await c.close();
  });

  it('refuses a bad query string at connect itself, as the services word it, without opening a backend connection or marking the backend down', async () => {
    // The proxy opens a backend only at the first input; a query string that cannot describe the
    // session is judged at connect with the services' own rules. (A backend's own permanent refusal
    // still reaches the client once: test/api_keys.test.ts, a wrong backend key closes 1008.)
    const tap = await startTcpTap(cpu.url);
    const lonely = await startTestProxy({ cpu: tap.url });
    try {
      const c = await TestClient.connect(`${lonely.ws}/ws/transcribe?sample_rate=0`);
      const refusal = await c.next<Reply>();
      expect(refusal).toMatchObject({ type: 'error', code: 'bad_query' });
      expect(refusal.error).toMatch(/sample_rate/);
      expect(await c.closed).toEqual({ code: 1008, reason: 'bad query string: sample_rate must be an integer from 8000 to 192000 (got "0")' });
      expect((await fetch(`${lonely.url}/api/status`).then(json)).backends.cpu.state).toBe('ready');
      expect(tap.upgrades).toEqual([]);
    } finally {
      await lonely.close();
      await tap.close();
    }
  });

  it('replays only the config a backend acknowledged, and answers each control message once across reconnections', async () => {
    const tap = await startTcpTap(cpu.url);
    const lonely = await startTestProxy({ cpu: tap.url });
    try {
      const c = await TestClient.connect(`${lonely.ws}/ws/transcribe`);
      c.ws.send(JSON.stringify({ type: 'config', language: 'en' }));
      expect(await c.next()).toMatchObject({ type: 'config', language: 'en' });
      // 3202-byte frames: whole s16le samples that f32le could not read.
      c.sendAudio(speech.subarray(0, 32000), 3202);
      c.ws.send(JSON.stringify({ type: 'config', encoding: 'f32le' }));
      expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message' }); // audio is buffered: refused
      c.sendAudio(speech.subarray(32000), 3202);
      // The link breaks; so does the first reconnection, before the backend acknowledges the replayed config.
      tap.cutNextSessions(1);
      tap.cutAll();
      c.flush();
      // Had the refused f32le been replayed, every replayed frame would have been refused and the text empty.
      expect(await c.next()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, language: 'en' });
      expect(tap.upgrades).toHaveLength(3);
      // Each later control message gets its own answer: no replayed ack is owed to anything.
      c.ws.send(JSON.stringify({ type: 'config', prompt: 'Ayaka' }));
      expect(await c.next()).toMatchObject({ type: 'config', prompt: 'Ayaka', language: 'en' });
      c.ws.send(JSON.stringify({ type: 'config', language: 'not a language' }));
      expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message' });
      c.ws.send(JSON.stringify({ type: 'config', prompt: 'Ayaka again' }));
      expect(await c.next()).toMatchObject({ type: 'config', prompt: 'Ayaka again' });
      await expect(c.next(300)).rejects.toThrow(/no message/);
      await c.close();
    } finally {
      await lonely.close();
      await tap.close();
    }
  });

  it("passes the detection service's refusal through with its own code and reason", async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/detect?sample_rate=0`);
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_query' });
    expect(await c.closed).toEqual({ code: 1008, reason: 'bad query string: sample_rate must be an integer from 8000 to 192000 (got "0")' });
  });

  it('closes every session with a code and a reason: detection service away, or shutting down', async () => {
    const lonely = await startTestProxy({ cpu: cpu.url, detect: 'http://127.0.0.1:9' });
    const d = await TestClient.connect(`${lonely.ws}/ws/detect`);
    expect(await d.closed).toMatchObject({ code: 1013, reason: expect.stringMatching(/^detection service unreachable: /) });
    const t = await TestClient.connect(`${lonely.ws}/ws/transcribe`);
    t.ws.send(JSON.stringify({ type: 'config', language: 'en' }));
    expect(await t.next()).toMatchObject({ type: 'config' });
    await lonely.close();
    expect(await t.closed).toEqual({ code: 1001, reason: 'stt_proxy is shutting down; reconnect' });
  });
});

describe('proxy failover', () => {
  // Backends that die for real (SIGKILL): A and B for the first test, C alone for the second, all started at once.
  let a: ServiceProcess;
  let b: ServiceProcess;
  let c1: ServiceProcess;
  beforeAll(async () => {
    const env = { STT_MODEL: TEST_MODEL() };
    const spawn = () => spawnService('stt/cpu_ws/src/main.ts', env);
    [a, b, c1] = await Promise.all([spawn(), spawn(), spawn()]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop(), c1?.stop()]);
  });

  it('moves a session to the other backend when its backend dies mid-stream, answering every flush in order', async () => {
    // A tap in front of backend A says when the audio sent has reached it, so A dies at that moment.
    const tapA = await startTcpTap(a.url);
    const proxy = await startTestProxy({ cpu: tapA.url, gpu: b.url });
    try {
      const c = await TestClient.connect(`${proxy.ws}/ws/transcribe?sample_rate=16000`);
      c.ws.send(JSON.stringify({ type: 'config', language: 'en' }));
      expect(await c.next()).toMatchObject({ type: 'config', language: 'en' });
      c.sendAudio(speech);
      c.flush();
      const first = await c.next();
      expect(first, JSON.stringify(first)).toMatchObject({ seq: 1, backend: 'cpu', text: WORDS });
      const jfk = encodeS16le(loadClip('whisper.cpp/jfk.wav'));
      c.sendAudio(jfk);
      c.flush();
      c.sendAudio(speech);
      c.flush();
      c.sendAudio(speech.subarray(0, 32000)); // not yet flushed when the backend dies
      const sent = jfk.length + speech.length + 32000;
      const upBefore = tapA.bytesUp;
      await until(() => tapA.bytesUp - upBefore >= sent, 10_000, () => tapA.bytesUp - upBefore);
      await a.stop('SIGKILL');
      c.flush();
      const replies = [await c.next<Reply>(), await c.next<Reply>(), await c.next<Reply>()];
      expect(replies.map((r) => r.seq)).toEqual([2, 3, 4]);
      expect(replies.every((r) => r.type === 'transcript' && r.text === WORDS)).toBe(true);
      expect(replies.at(-1)!.backend).toBe('gpu');
      const status = await fetch(`${proxy.url}/api/status`).then(json);
      expect(status.backends.cpu.state).toBe('down');
      // The session lives on.
      c.sendAudio(speech);
      c.flush();
      expect(await c.next()).toMatchObject({ seq: 5, backend: 'gpu', text: WORDS });
      await c.close();
    } finally {
      await proxy.close();
      await tapA.close();
    }
  });

  it('answers every waiting flush with an error when no backend is back within the hold, and keeps the client connected', async () => {
    const a = c1;
    const tapA = await startTcpTap(a.url);
    const proxy = await startTestProxy({ cpu: tapA.url }, { holdMs: 200 });
    try {
      const c = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
      const jfk = encodeS16le(loadClip('whisper.cpp/jfk.wav'));
      const upBefore = tapA.bytesUp;
      c.sendAudio(jfk);
      c.flush();
      // The backend dies once the flush has reached it ("<FLUSH>" follows the audio), so it is waiting there.
      await until(() => tapA.bytesUp - upBefore >= jfk.length + 7, 10_000, () => tapA.bytesUp - upBefore);
      await a.stop('SIGKILL');
      const reply = await c.next<Reply>(20_000);
      expect(reply).toMatchObject({ type: 'error', code: 'engine_unavailable', seq: 1 });
      expect(c.ws.readyState).toBe(c.ws.OPEN);
      await c.close();
    } finally {
      await proxy.close();
      await tapA.close();
    }
  });
});

