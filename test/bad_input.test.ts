import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, encodeWav, statusOf, type ErrorCode } from '@vtuber-stt/core';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticModel, syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';
import { RealtimeClient, to24k } from './helpers/realtime_client.js';
import { until, untilAsync } from './helpers/wait.js';

/**
 * The project's own bad-input corpus: frames, text, configs, query strings and REST bodies of
 * every kind, sent to a service directly and through the proxy. Each answer must be clear (an
 * error naming the problem, a 4xx, or a close with a code and a reason), and after every case
 * both are still up and serve an ordinary request.
 */

// The tiny model: what is under test is the handling of bad input, and each check that the session
// still transcribes costs a decode, the smaller model's the cheapest.
const WORDS = syntheticText(fixtureModel('tiny'), 20);
/** 0.7 s of fixture speech: an ordinary utterance, as short as proves the session still transcribes. */
const speech = encodeS16le(loadClip('picovoice-leopard/test_en.wav').subarray(8000, 8000 + 11200));
const wav = readFileSync(audioPath('speechbrain/spk1_snt1.wav'));
type Reply = { type: string; code?: string; error?: string; text?: string; seq?: number };

/** A WAV header claiming `rate`, over `bytes` of data. */
function wavWithRate(rate: number, bytes = 400): Buffer {
  const w = encodeWav(new Float32Array(bytes / 2), 16000);
  w.writeUInt32LE(rate, 24);
  w.writeUInt32LE((rate * 2) % 2 ** 32, 28);
  return w;
}

describe('bad input, directly and through the proxy', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  beforeAll(async () => {
    service = await startTestService({ roles: ['transcribe', 'detect'], detector: 'silero', model: syntheticModel(fixtureModel('tiny'), 20, { layers: 1 }) });
    proxy = await startTestProxy({ cpu: service.url, detect: service.url });
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  /** Both up, and an ordinary utterance through each is transcribed. */
  async function stillServing(label: string): Promise<void> {
    expect((await fetch(`${service.url}/ready`)).status, label).toBe(200);
    expect((await fetch(`${proxy.url}/ready`)).status, label).toBe(200);
    for (const url of [service.ws, `${proxy.ws}/ws/transcribe`]) {
      const c = await TestClient.connect(url);
      c.sendAudio(speech);
      c.flush();
      expect(await c.next<Reply>(60_000), `${label}: ${url}`).toMatchObject({ type: 'transcript', text: WORDS });
      await c.close();
    }
  }

  const targets = () => [
    ['direct', service.ws],
    ['proxy', `${proxy.ws}/ws/transcribe`],
  ];

  describe('text frames and configs: an error naming the problem, and the session goes on', () => {
    const cases: [string, string, RegExp][] = [
      ['an unknown command', '<FLUSH>', /unknown command/],
      ['an empty text frame', '', /unknown command/],
      ['broken JSON', '{"type":', /unknown command/],
      ['JSON null', 'null', /invalid message/],
      ['a JSON array', '[]', /invalid message/],
      ['an unknown message type', '{"type":"transcribe"}', /invalid message/],
      ['a string sample rate', '{"type":"config","sample_rate":"abc"}', /sample_rate/],
      ['a sample rate out of range', '{"type":"config","sample_rate":4000}', /sample_rate/],
      ['an unknown encoding', '{"type":"config","encoding":"mp3"}', /encoding/],
      ['a malformed language', '{"type":"config","language":"english!"}', /language/],
      ['a prompt past its limit', JSON.stringify({ type: 'config', prompt: 'x'.repeat(5000) }), /prompt/],
      ['an unknown field', '{"type":"config","volume":11}', /volume|unrecognized/i],
      ['a threshold of 1', '{"type":"config","threshold":1}', /threshold/],
      ['turns of another kind', '{"type":"config","turns":"sometimes"}', /turns/],
    ];
    for (const [name, text, reason] of cases) {
      it(name, async () => {
        for (const [where, url] of targets()) {
          const c = await TestClient.connect(url!);
          c.ws.send(text);
          const reply = await c.next<Reply>();
          expect(reply, `${where}: ${name}`).toMatchObject({ type: 'error', code: 'bad_message' });
          expect(reply.error, `${where}: ${name}`).toMatch(reason);
          // The same connection still transcribes.
          c.sendAudio(speech);
          c.flush();
          expect(await c.next<Reply>(60_000), where).toMatchObject({ type: 'transcript', text: WORDS });
          await c.close();
        }
      });
    }
  });

  describe('binary frames', () => {
    it('half a sample: bad_audio, and the session goes on', async () => {
      for (const [where, url] of targets()) {
        const c = await TestClient.connect(url!);
        c.ws.send(Buffer.alloc(3001));
        expect(await c.next<Reply>(), where).toMatchObject({ type: 'error', code: 'bad_audio' });
        c.sendAudio(speech);
        c.flush();
        expect(await c.next<Reply>(60_000), where).toMatchObject({ type: 'transcript', text: WORDS });
        await c.close();
      }
    });

    it('a frame over the frame limit: frame_too_large, nothing buffered, the session goes on', async () => {
      for (const [where, url] of targets()) {
        const c = await TestClient.connect(url!);
        c.ws.send(Buffer.alloc(2 * 1024 * 1024));
        const refused = await c.next<Reply>();
        expect(refused, where).toMatchObject({ type: 'error', code: 'frame_too_large' });
        expect(refused.error, where).toMatch(/limit/);
        c.sendAudio(speech);
        c.flush();
        const t = await c.next<Reply & { audio_ms: number }>(60_000);
        expect(t, where).toMatchObject({ type: 'transcript', text: WORDS });
        expect(t.audio_ms, where).toBeLessThan(10_000); // the refused 64 s were not added
        await c.close();
      }
    });

    it('a frame past what the socket takes at all: closed 1009 with a reason (direct); refused, session kept (proxy)', async () => {
      const direct = await TestClient.connect(service.ws);
      direct.ws.send(Buffer.alloc(5 * 1024 * 1024));
      const closed = await direct.closed;
      expect(closed.code).toBe(1009);
      expect(closed.reason).toMatch(/frame too large/);
      const viaProxy = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
      viaProxy.ws.send(Buffer.alloc(5 * 1024 * 1024));
      expect(await viaProxy.next<Reply>()).toMatchObject({ type: 'error', code: 'frame_too_large' });
      viaProxy.sendAudio(speech);
      viaProxy.flush();
      expect(await viaProxy.next<Reply>(60_000)).toMatchObject({ type: 'transcript', text: WORDS });
      await viaProxy.close();
      await stillServing('after 5 MiB frames');
    });

    it('invalid UTF-8 in a text frame: closed 1007 with a reason', async () => {
      for (const [where, url] of targets()) {
        const c = await TestClient.connect(url!);
        c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
        const closed = await c.closed;
        expect(closed.code, where).toBe(1007);
        expect(closed.reason, where).toMatch(/UTF-8/);
      }
      await stillServing('after invalid UTF-8');
    });

    it('NaN and infinite float samples poison nothing', async () => {
      for (const [where, url] of targets()) {
        const c = await TestClient.connect(`${url}?encoding=f32le`);
        const bad = new Float32Array(16000);
        bad.fill(Number.NaN, 0, 8000);
        bad.fill(Number.POSITIVE_INFINITY, 8000);
        c.ws.send(Buffer.from(bad.buffer));
        c.flush();
        expect(await c.next<Reply>(60_000), where).toMatchObject({ type: 'transcript' });
        await c.close();
      }
      await stillServing('after NaN audio');
    });
  });

  describe('query strings: closed 1008 with the reason, once', () => {
    const queries: [string, RegExp][] = [
      ['sample_rate=0', /sample_rate/],
      ['sample_rate=999999999', /sample_rate/],
      ['sample_rate=abc', /sample_rate/],
      ['sample_rate=16000&sample_rate=48000', /sample_rate/],
      ['channels=0', /channels/],
      ['encoding=xyz', /encoding/],
      ['turns=sometimes', /turns/],
      ['early=2', /early/],
    ];
    for (const [query, reason] of queries) {
      it(`?${query}`, async () => {
        for (const [where, url] of [...targets(), ['detect', `${proxy.ws}/ws/detect`]]) {
          if (where === 'detect' && /turns|early/.test(query)) continue; // not a detection parameter
          const c = new TestClient(`${url}?${query}`);
          const closed = await c.closed;
          expect(closed.code, `${where} ?${query}`).toBe(1008);
          expect(closed.reason, `${where} ?${query}`).toMatch(reason);
        }
        const status = (await fetch(`${proxy.url}/api/status`).then((r) => r.json())) as { backends: { cpu: { state: string } } };
        expect(status.backends.cpu.state).toBe('ready');
      });
    }
  });

  describe('REST bodies: 4xx with a reason that fits REST, never 200 "" or a 500', () => {
    const bodies: [string, string, Buffer][] = [
      ['an empty body', 'audio/wav', Buffer.alloc(0)],
      ['random bytes labelled WAV', 'audio/wav', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251))],
      ['a truncated WAV (24 bytes)', 'audio/wav', wav.subarray(0, 24)],
      ['a WAV at 1 Hz', 'audio/wav', wavWithRate(1, 4000)],
      ['a WAV at 4294967295 Hz', 'audio/wav', wavWithRate(4294967295)],
      ['plain text', 'text/plain', Buffer.from('hello')],
      ['JSON', 'application/json', Buffer.from('{"audio":"hello"}')],
    ];
    for (const [name, type, body] of bodies) {
      it(name, async () => {
        const began = performance.now();
        const res = await fetch(`${proxy.url}/api/transcribe`, { method: 'POST', headers: { 'content-type': type }, body });
        expect(res.status, name).toBeGreaterThanOrEqual(400);
        expect(res.status, name).toBeLessThan(500);
        const answer = (await res.json()) as { error?: string; code: ErrorCode };
        expect(answer.error, name).toBeTruthy();
        // The status is the one the error table gives the code.
        expect(res.status, name).toBe(statusOf(answer.code));
        expect(answer.error, name).not.toMatch(/<flush>|DataView|Offset/);
        // A few bytes never buy seconds of work.
        expect(performance.now() - began, name).toBeLessThan(5000);

        const form = new FormData();
        form.append('file', new Blob([body], { type }), 'upload.wav');
        form.append('model', 'whisper-1');
        const openai = await fetch(`${proxy.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
        expect(openai.status, `openai: ${name}`).toBeGreaterThanOrEqual(400);
        expect(openai.status, `openai: ${name}`).toBeLessThan(500);
        const o = (await openai.json()) as { error: { message: string; type: string; code: string } };
        expect(o.error.message.length, `openai: ${name}`).toBeGreaterThan(5);
        // The same input gets the same answer on both REST surfaces (the OpenAI one adds its wrapper).
        expect({ status: openai.status, code: o.error.code }, `openai: ${name}`).toEqual({ status: res.status, code: answer.code });
      });
    }
    it('leaves the proxy serving', async () => stillServing('after bad REST bodies'));
  });

  describe('detection', () => {
    it('half a sample and a bad config: errors, and replies go on in order', async () => {
      for (const url of [`${service.url.replace('http', 'ws')}/ws/detect`, `${proxy.ws}/ws/detect`]) {
        const c = await TestClient.connect(url);
        c.ws.send(Buffer.alloc(1023));
        expect(await c.next<Reply>()).toMatchObject({ type: 'error' });
        c.ws.send('{"type":"config","threshold":7}');
        expect(await c.next<Reply>()).toMatchObject({ type: 'error', code: 'bad_message' });
        c.ws.send(speech.subarray(0, 1024));
        expect(await c.next<Reply>()).toMatchObject({ type: 'detect' });
        await c.close();
      }
    });
  });

  describe('a client that floods /ws/detect with tiny frames', () => {
    it('gets every reply in order, while another client is answered between them; directly and through the proxy', async () => {
      for (const url of [`${service.url.replace('http', 'ws')}/ws/detect`, `${proxy.ws}/ws/detect`]) {
        const flood = await TestClient.connect(url);
        const frames = 20_000;
        let answered = 0;
        let lastOffset = -1;
        let ordered = true;
        flood.ws.on('message', (data) => {
          const reply = JSON.parse(data.toString()) as { type: string; offset_ms: number };
          if (reply.type !== 'detect') return;
          answered++;
          ordered &&= reply.offset_ms >= lastOffset;
          lastOffset = reply.offset_ms;
        });
        const other = await TestClient.connect(url);
        const tiny = Buffer.alloc(2);
        for (let i = 0; i < frames; i++) flood.ws.send(tiny);
        other.ws.send(speech.subarray(0, 1024));
        expect(await other.next<Reply>()).toMatchObject({ type: 'detect' });
        // Served while the flood was still being worked through, not after it.
        const answeredThen = answered;
        await until(() => answered === frames, 60_000, () => answered);
        expect(answeredThen, url).toBeLessThan(frames);
        expect(ordered, url).toBe(true);
        // 20,000 samples at 16 kHz: the flood's audio was all heard, none dropped.
        expect(lastOffset, url).toBe(1250);
        await Promise.all([flood.close(), other.close()]);
      }
    });
  });

  describe('a client that sends but never reads', () => {
    it('is closed 1008 with a reason once its unread replies pass the bound, and costs the others nothing', async () => {
      const url = `${service.url.replace('http', 'ws')}/ws/detect`;
      const flood = await TestClient.connect(url);
      const raw = (flood.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      raw.pause(); // reads nothing from here on
      const frame = Buffer.alloc(2);
      // 2-byte frames, each answered with a reply of ~100 bytes: 200,000 of them are ~20 MB of replies,
      // well past what the loopback's socket buffers absorb.
      for (let i = 0; i < 200_000; i++) flood.ws.send(frame);
      // Meanwhile another client is answered as usual.
      const other = await TestClient.connect(url);
      other.ws.send(speech.subarray(0, 1024));
      expect(await other.next<Reply>()).toMatchObject({ type: 'detect' });
      await other.close();
      // Read again only once the server has given up on it: the server slows a flood to its own
      // pace, so a client that read earlier would drain the replies as fast as they come.
      await untilAsync(async () => /stt_errors_total\{code="not_reading"[^}]*\} [1-9]/.test(await fetch(`${service.url}/metrics`).then((r) => r.text())), 50_000);
      raw.resume();
      const closed = await flood.closed;
      expect(closed.code).toBe(1008);
      expect(closed.reason).toMatch(/replies are not being read/);
      await stillServing('after a client that never reads');
    });
  });

  describe('named sessions, listeners and remote mute (a web page on loopback, a leaked overlay key, a mute storm)', () => {
    /** How the handshake to `url` is answered: its status, or 101 when it opens. */
    const handshake = (url: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(url, { headers });
        ws.once('open', () => (ws.close(), resolve(101)));
        ws.once('unexpected-response', (_req, res) => (res.resume(), resolve(res.statusCode ?? 0)));
        ws.once('error', (e) => (e.message.includes('Unexpected server response') ? undefined : reject(e)));
      });

    it("another site's page can neither listen, mute nor speak as the VTuber: 403 before the upgrade, and the session serves on", async () => {
      const evil = { origin: 'https://evil.example' };
      expect(await handshake(`${proxy.ws}/ws/events?session=main`, evil)).toBe(403);
      expect(await handshake(`${proxy.ws}/ws/transcribe?session=main`, evil)).toBe(403);
      const speaker = await TestClient.connect(`${proxy.ws}/ws/transcribe?session=main`);
      const mute = await fetch(`${proxy.url}/api/sessions/main/mute`, { method: 'POST', headers: evil });
      expect(mute.status).toBe(403);
      expect(((await mute.json()) as Reply).code).toBe('forbidden_origin');
      // Nor say the VTuber speaks (which would drop the streamer's words as echo).
      const speaks = await fetch(`${proxy.url}/api/sessions/main/assistant`, { method: 'POST', headers: { ...evil, 'content-type': 'application/json' }, body: '{"state":"start","text":"hi"}' });
      expect(speaks.status).toBe(403);
      expect(((await speaks.json()) as Reply).code).toBe('forbidden_origin');
      expect((await fetch(`${proxy.url}/api/sessions`, { headers: evil })).status).toBe(403);
      speaker.sendAudio(speech);
      speaker.flush();
      expect(await speaker.next<Reply>(60_000)).toMatchObject({ type: 'transcript', text: WORDS });
      await speaker.close();
    });

    it('too many session names, or a name that is a path, are refused at connect (1008, why)', async () => {
      const names = Array.from({ length: 17 }, (_, i) => `s${i}`).join(',');
      for (const [url, why] of [
        [`${proxy.ws}/ws/events?session=${names}`, /at most 16 sessions/],
        [`${proxy.ws}/ws/events?session=${'x'.repeat(5000)}`, /session must be/],
        [`${proxy.ws}/ws/transcribe?session=..%2F..%2Fetc%2Fpasswd`, /session must be/],
      ] as const) {
        const closed = await new TestClient(url).closed;
        expect(closed.code, url.slice(0, 80)).toBe(1008);
        expect(closed.reason).toMatch(why);
      }
    });

    it('listeners have their own limit (STT_PROXY_MAX_LISTENERS): past it one is closed 1013, and the microphone still gets in', async () => {
      const small = await startTestProxy({ cpu: service.url, detect: service.url }, { maxConnections: 2, maxListeners: 2 });
      try {
        const listeners = await Promise.all([0, 1].map(() => TestClient.connect(`${small.ws}/ws/events?session=main`)));
        const third = await new TestClient(`${small.ws}/ws/events?session=main`).closed;
        expect(third.code).toBe(1013);
        expect(third.reason).toMatch(/STT_PROXY_MAX_LISTENERS/);
        const mic = await TestClient.connect(`${small.ws}/ws/transcribe?session=main`);
        mic.sendAudio(speech);
        mic.flush();
        expect(await mic.next<Reply>(60_000)).toMatchObject({ type: 'transcript', text: WORDS });
        await Promise.all([mic.close(), ...listeners.map((l) => l.close())]);
      } finally {
        await small.close();
      }
    });

    it('a mute storm (2000 toggles from the speaker, 200 POSTs) is answered toggle by toggle and leaves the session serving', async () => {
      const speaker = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server&session=storm`);
      for (let i = 0; i < 2000; i++) speaker.ws.send(JSON.stringify({ type: i % 2 === 0 ? 'mute' : 'unmute' }));
      let acks = 0;
      while (acks < 2000) if ((await speaker.next<Reply>()).type === 'config') acks++;
      const posts = await Promise.all(Array.from({ length: 200 }, (_, i) => fetch(`${proxy.url}/api/sessions/storm/${i % 2 === 0 ? 'mute' : 'unmute'}`, { method: 'POST' }).then((r) => r.status)));
      expect(posts.every((status) => status === 200)).toBe(true);
      speaker.ws.send(JSON.stringify({ type: 'unmute' }));
      speaker.sendAudio(speech);
      speaker.flush();
      for (;;) {
        const m = await speaker.next<Reply>(60_000);
        if (m.type === 'transcript' && (m as { final?: boolean }).final !== false && m.text) {
          expect(m.text).toBe(WORDS);
          break;
        }
      }
      await speaker.close();
      await stillServing('after a mute storm');
    });
  });

  describe('realtime session.update (semantic_vad)', () => {
    it('an eagerness of 100 kB or another type: an error naming the field, once and short, and the session transcribes on', async () => {
      const rt = await RealtimeClient.connect(`${proxy.ws}/v1/realtime?intent=transcription`);
      await rt.next('session.created');
      for (const turn_detection of [{ type: 'semantic_vad', eagerness: 'x'.repeat(100_000) }, { type: 'smart_vad' }, { type: 'semantic_vad', eagerness: 'high', extra: 1 }]) {
        rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection } } } });
        const error = await rt.next('error', 5000);
        expect(error.error?.message).toMatch(/eagerness|turn_detection|extra|unrecognized/i);
        // The answer does not echo the 100 kB back.
        expect(JSON.stringify(error).length).toBeLessThan(2000);
      }
      rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: null } } } });
      await rt.next('session.updated');
      rt.append(to24k(speech));
      rt.send({ type: 'input_audio_buffer.commit' });
      expect((await rt.next('conversation.item.input_audio_transcription.completed')).transcript).toBe(WORDS);
      await rt.close();
    });
  });

  describe('a handshake claiming to resume an admitted session (x-stt-resumed-session)', () => {
    it('a forged, oversized or repeated claim is an ordinary new session: transcribed, nothing bypassed, the service serves on', async () => {
      // Only STT_RELAY_SECRET makes the claim count (admission.test.ts); this service has none.
      for (const headers of [{ 'x-stt-resumed-session': 'x'.repeat(12_000) }, { 'x-stt-resumed-session': ['1', '1'] as unknown as string }]) {
        const c = await TestClient.connect(service.ws, { headers });
        c.sendAudio(speech);
        c.flush();
        expect(await c.next<Reply>(60_000)).toMatchObject({ type: 'transcript', text: WORDS });
        await c.close();
      }
      await stillServing('after forged resumption claims');
    });
  });

  describe('connection limit at the proxy', () => {
    it('closes the session past STT_PROXY_MAX_CONNECTIONS with 1013 and a reason, and admits again once one leaves', async () => {
      const small = await startTestProxy({ cpu: service.url, detect: service.url }, { maxConnections: 2 });
      try {
        const a = await TestClient.connect(`${small.ws}/ws/transcribe`);
        const b = await TestClient.connect(`${small.ws}/ws/detect`);
        const c = new TestClient(`${small.ws}/v1/realtime?intent=transcription`);
        const refused = await c.closed;
        expect(refused.code).toBe(1013);
        expect(refused.reason).toMatch(/STT_PROXY_MAX_CONNECTIONS/);
        expect((await fetch(`${small.url}/ready`)).status).toBe(200);
        await b.close();
        const d = await TestClient.connect(`${small.ws}/ws/transcribe`);
        d.sendAudio(speech);
        d.flush();
        expect(await d.next<Reply>(60_000)).toMatchObject({ type: 'transcript', text: WORDS });
        await Promise.all([a.close(), d.close()]);
      } finally {
        await small.close();
      }
    });
  });
});
