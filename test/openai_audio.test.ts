import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { encodeS16le, encodeWav } from '@vtuber-stt/core';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { serviceBehindProxy, startTestProxy } from './helpers/proxy.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';

const json = (r: Response): Promise<any> => r.json();
const WORDS = syntheticText(fixtureModel('base'), 20);
/** OpenAI's json transcription: the text and the languages detected (the synthetic model hears English). */
const ANSWER = { text: WORDS, languages: [{ code: 'en' }] };
const SHORT = audioPath('speechbrain/spk1_snt1.wav');
const JFK = audioPath('whisper.cpp/jfk.wav');

/** Every file type OpenAI's audio API accepts, made by ffmpeg from fixture speech. */
const TYPES: Record<string, string[]> = {
  mp3: ['-c:a', 'libmp3lame', '-b:a', '48k', '-f', 'mp3'],
  mpga: ['-c:a', 'libmp3lame', '-b:a', '48k', '-f', 'mp3'],
  mpeg: ['-c:a', 'mp2', '-f', 'mpeg'],
  mp4: ['-c:a', 'aac', '-f', 'mp4'],
  m4a: ['-c:a', 'aac', '-f', 'ipod'],
  wav: ['-c:a', 'pcm_s16le', '-f', 'wav'],
  webm: ['-c:a', 'libopus', '-f', 'webm'],
  ogg: ['-c:a', 'libopus', '-f', 'ogg'],
  flac: ['-c:a', 'flac', '-f', 'flac'],
};

const dir = mkdtempSync(join(tmpdir(), 'openai-audio-'));
/** 0.7 s of fixture speech: where only the file's type or the response's shape is under test, a short decode proves the same. */
const BRIEF = join(mkdtempSync(join(tmpdir(), 'openai-audio-source-')), 'brief.wav');
const BRIEF_MS = 700;
writeFileSync(BRIEF, encodeWav(loadClip('picovoice-leopard/test_en.wav').subarray(8000, 8000 + 11200), 16000));
function make(source: string, type: string, name = `${basename(source, '.wav')}.${type}`, extra: string[] = []): string {
  const out = join(dir, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', source, ...extra, ...TYPES[type]!, out]);
  return out;
}

function form(file: string | Blob, fields: Record<string, string | string[]> = {}, name = typeof file === 'string' ? basename(file) : 'audio.bin'): FormData {
  const f = new FormData();
  f.append('file', typeof file === 'string' ? new Blob([readFileSync(file)]) : file, name);
  for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) f.append(k, one);
  return f;
}

/** The events of a server-sent event stream, parsed by a real SSE parser. */
async function sseEvents(response: Response): Promise<any[]> {
  const events: any[] = [];
  const parser = createParser({ onEvent: (e: EventSourceMessage) => events.push(JSON.parse(e.data)) });
  const decoder = new TextDecoder();
  for await (const chunk of response.body!) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
  return events;
}

describe('OpenAI audio REST surface through the proxy', () => {
  const stack = serviceBehindProxy();
  const post = (path: string, body: FormData) => fetch(`${stack.proxy.url}${path}`, { method: 'POST', body });
  /** The service still answers a normal request after whatever came before. */
  const stillServes = async () => {
    expect((await fetch(`${stack.proxy.url}/ready`)).status).toBe(200);
    expect(await json(await post('/v1/audio/transcriptions', form(SHORT, { model: 'whisper-1', language: 'en' })))).toEqual(ANSWER);
  };


  it('transcribes every file type OpenAI accepts', async () => {
    // All at once: the proxy's ffmpeg decodes one while the service transcribes another.
    const types = Object.keys(TYPES);
    const files = types.map((type) => make(BRIEF, type));
    const answers = await Promise.all(files.map((file) => post('/v1/audio/transcriptions', form(file, { model: 'whisper-1', language: 'en' }))));
    for (const [i, r] of answers.entries()) {
      expect(r.status, types[i]).toBe(200);
      expect(await json(r), types[i]).toEqual(ANSWER);
    }
    // /api/transcribe takes the same files as a plain body, whatever content type they are sent under.
    const mp3 = readFileSync(join(dir, 'brief.mp3'));
    for (const type of ['audio/mpeg', 'application/octet-stream']) {
      const r = await fetch(`${stack.proxy.url}/api/transcribe?language=en`, { method: 'POST', headers: { 'content-type': type }, body: mp3 });
      expect(await json(r), type).toMatchObject({ type: 'transcript', text: WORDS, backend: 'cpu' });
    }
    // WAV at another rate, in stereo and as float: passed to the service as it is, converted there.
    const stereo = make(BRIEF, 'wav', 'stereo-44k.wav', ['-ar', '44100', '-ac', '2']);
    const float = join(dir, 'float.wav');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', BRIEF, '-c:a', 'pcm_f32le', '-ar', '48000', float]);
    for (const file of [stereo, float]) {
      const r = await fetch(`${stack.proxy.url}/api/transcribe?language=en`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: readFileSync(file) });
      expect(await json(r), file).toMatchObject({ text: WORDS, audio_ms: BRIEF_MS });
    }
  });

  it('refuses corrupt and truncated files with 400 and one generic reason (ffmpeg\'s goes to the log), and keeps serving', async () => {
    const m4a = readFileSync(make(SHORT, 'm4a'));
    const flac = readFileSync(make(SHORT, 'flac'));
    const mp3 = readFileSync(make(JFK, 'mp3'));
    const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251));
    const cases: [string, Buffer, RegExp][] = [
      ['m4a cut to 30 %', m4a.subarray(0, Math.floor(m4a.length * 0.3)), /^the audio could not be decoded: the file is damaged or truncated/],
      ['flac cut to 64 bytes', flac.subarray(0, 64), /could not be decoded/],
      ['mp3 with its middle overwritten', Buffer.concat([mp3.subarray(0, mp3.length / 3), noise, noise, noise, noise, mp3.subarray(mp3.length / 3 + 16384)]), /could not be decoded/],
      ['random bytes', noise, /not a recognised audio file .*supported: wav, mp3/],
    ];
    for (const [label, bytes, reason] of cases) {
      const r = await post('/v1/audio/transcriptions', form(new Blob([bytes]), { model: 'whisper-1' }, 'upload.mp3'));
      expect(r.status, label).toBe(400);
      expect((await json(r)).error, label).toMatchObject({ type: 'invalid_request_error', param: 'file', message: expect.stringMatching(reason) });
    }
    // Many at once: ffmpeg runs a few at a time and the rest wait their turn; every one is answered.
    const burst = await Promise.all(Array.from({ length: 8 }, () => post('/v1/audio/transcriptions', form(new Blob([m4a.subarray(0, 2000)]), {}, 'cut.m4a'))));
    for (const r of burst) expect((await json(r)).error.message).toMatch(/could not be decoded/);
    await stillServes();
  });

  it('answers bad /api/transcribe bodies with 4xx and a reason that fits REST (issue 12)', async () => {
    const good = readFileSync(SHORT);
    const withRate = (rate: number) => {
      const b = Buffer.from(good.subarray(0, 4444));
      b.writeUInt32LE(rate, 24);
      return b;
    };
    const wav = (body: Buffer, type = 'audio/wav') => fetch(`${stack.proxy.url}/api/transcribe`, { method: 'POST', headers: { 'content-type': type }, body });
    const cases: [string, Response, number, RegExp][] = [
      ['24-byte WAV', await wav(good.subarray(0, 24)), 400, /truncated inside its fmt chunk/],
      ['WAV cut inside its data', await wav(good.subarray(0, 1000)), 400, /truncated: its data chunk declares \d+ bytes, the file holds 956/],
      ['WAV at 1 Hz', await wav(withRate(1)), 400, /says 1 Hz; sample rates from 8000 to 192000 Hz/],
      ['WAV at 4294967295 Hz', await wav(withRate(4294967295)), 400, /says 4294967295 Hz/],
      ['random bytes as audio/wav', await wav(Buffer.from('just some bytes, not audio at all')), 415, /sent as audio\/wav but is not a WAV file/],
      ['MP3 as audio/wav', await wav(readFileSync(make(SHORT, 'mp3'))), 415, /sent as audio\/wav but is an MP3 file/],
      ['unknown type', await wav(good, 'image/png'), 415, /post audio as a file/],
    ];
    for (const [label, r, status, reason] of cases) {
      expect(r.status, label).toBe(status);
      expect((await json(r)).error, label).toMatch(reason);
    }
    await stillServes();
  });

  it('bounds decoding in duration, size and time, and says what to install without ffmpeg', async () => {
    const mp3 = readFileSync(make(JFK, 'mp3'));
    const small = await startTestProxy({ cpu: stack.service.url }, { maxAudioSeconds: 5, maxBodyBytes: 200_000, decodeTimeoutMs: 30_000 });
    const slow = await startTestProxy({ cpu: stack.service.url }, { decodeTimeoutMs: 1 });
    const bare = await startTestProxy({ cpu: stack.service.url }, { ffmpegPath: join(dir, 'no-such-ffmpeg') });
    try {
      const long = await fetch(`${small.url}/v1/audio/transcriptions`, { method: 'POST', body: form(new Blob([mp3]), {}, 'jfk.mp3') });
      expect(long.status).toBe(413);
      expect((await json(long)).error.message).toMatch(/longer than 5 s \(STT_PROXY_MAX_AUDIO_SECONDS\)/);
      const longWav = await fetch(`${small.url}/api/transcribe`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: encodeWav(new Float32Array(16000 * 6), 16000) });
      expect(longWav.status).toBe(413);
      expect((await json(longWav)).error).toMatch(/6\.0 s long; at most 5 s is accepted \(STT_PROXY_MAX_AUDIO_SECONDS\)/);
      const big = await fetch(`${small.url}/api/transcribe`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: readFileSync(JFK) });
      expect(big.status).toBe(413);
      expect((await json(big)).error).toMatch(/larger than 200000 bytes \(STT_PROXY_MAX_BODY_BYTES\)/);
      const bigForm = await fetch(`${small.url}/v1/audio/transcriptions`, { method: 'POST', body: form(JFK) });
      expect(bigForm.status).toBe(413);
      expect((await json(bigForm)).error).toMatchObject({ code: 'file_too_large', message: expect.stringMatching(/STT_PROXY_MAX_BODY_BYTES/) });
      const timedOut = await fetch(`${slow.url}/v1/audio/transcriptions`, { method: 'POST', body: form(new Blob([mp3]), {}, 'jfk.mp3') });
      expect(timedOut.status).toBe(400);
      expect((await json(timedOut)).error).toMatchObject({ code: 'decode_timeout', message: expect.stringMatching(/longer than 1 ms \(STT_PROXY_DECODE_TIMEOUT_MS\)/) });
      const missing = await fetch(`${bare.url}/v1/audio/transcriptions`, { method: 'POST', body: form(new Blob([mp3]), {}, 'jfk.mp3') });
      expect(missing.status).toBe(501);
      expect((await json(missing)).error.message).toMatch(/needs ffmpeg.*apt-get install ffmpeg/);
      // WAV needs no decoder.
      expect(await json(await fetch(`${bare.url}/v1/audio/transcriptions`, { method: 'POST', body: form(SHORT) }))).toEqual(ANSWER);
    } finally {
      await Promise.all([small.close(), slow.close(), bare.close()]);
    }
    await stillServes();
  });

  it('streams each utterance as transcript.text.delta, then transcript.text.done (stream=true)', async () => {
    const r = await post('/v1/audio/transcriptions', form(make(JFK, 'webm'), { model: 'gpt-4o-transcribe', language: 'en', stream: 'true' }));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await sseEvents(r);
    const deltas = events.filter((e) => e.type === 'transcript.text.delta');
    expect(deltas.length).toBeGreaterThanOrEqual(1);
    // The synthetic model says the same words for every utterance the service hears.
    for (const d of deltas) expect(d.delta.trim()).toBe(WORDS);
    expect(events.at(-1)).toMatchObject({ type: 'transcript.text.done', text: deltas.map((d) => d.delta).join(''), languages: [{ code: 'en' }], usage: { type: 'duration', seconds: 11 } });
    expect(events.filter((e) => e.type === 'transcript.text.done')).toHaveLength(1);
    // Errors before streaming starts are plain HTTP errors in OpenAI's shape.
    const bad = await post('/v1/audio/transcriptions', form(new Blob([Buffer.from('nope')]), { stream: 'true' }, 'x.mp3'));
    expect(bad.status).toBe(400);
  });

  it('stream=true sends the first utterance of a long file while the rest is still being decoded', async () => {
    // 52 s, several utterances, language auto (each utterance's language is checked first).
    const r = await post('/v1/audio/transcriptions', form(audioPath('mfa/LONG_michaelandsickmichael.wav'), { model: 'whisper-1', stream: 'true' }));
    const events: any[] = [];
    let owed: number | undefined;
    const parser = createParser({ onEvent: (e: EventSourceMessage) => events.push(JSON.parse(e.data)) });
    const decoder = new TextDecoder();
    for await (const chunk of r.body!) {
      parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
      if (owed === undefined && events.some((e) => e.type === 'transcript.text.delta')) {
        // The first delta is out: the service's engine still has the other utterances to decode.
        const metrics = await fetch(`${stack.service.url}/metrics`).then((m) => m.text());
        owed = Number(/^stt_queue_depth(?:\{[^}]*\})? (\d+)/m.exec(metrics)![1]);
        expect(events.some((e) => e.type === 'transcript.text.done')).toBe(false);
      }
    }
    expect(owed).toBeGreaterThan(0);
    const deltas = events.filter((e) => e.type === 'transcript.text.delta');
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(events.at(-1)).toMatchObject({ type: 'transcript.text.done', text: deltas.map((d) => d.delta).join('') });
  });

  it('translates (/v1/audio/translations) in every response format', async () => {
    const file = make(BRIEF, 'mp3');
    const verbose = await json(await post('/v1/audio/translations', form(file, { model: 'whisper-1', response_format: 'verbose_json' })));
    expect(verbose).toMatchObject({ task: 'translate', language: 'english', text: WORDS });
    expect(await (await post('/v1/audio/translations', form(file, { response_format: 'text' }))).text()).toBe(`${WORDS}\n`);
    expect(await json(await post('/v1/audio/translations', form(file)))).toEqual({ text: WORDS });
  });

  it('lists the loaded model and OpenAI\'s transcription model names as its aliases, and accepts any name', async () => {
    const list = await json(await fetch(`${stack.proxy.url}/v1/models`));
    const loaded = (await json(await fetch(`${stack.service.url}/ready`))).model as string;
    const id = basename(loaded).replace(/^ggml-/, '').replace(/\.bin$/, '');
    const aliases = ['whisper-1', 'gpt-transcribe', 'gpt-live-transcribe', 'gpt-4o-transcribe', 'gpt-4o-mini-transcribe', 'gpt-4o-mini-transcribe-2025-12-15', 'gpt-4o-transcribe-diarize', 'gpt-realtime-whisper'];
    const alias = (name: string) => ({ id: name, object: 'model', created: expect.any(Number), owned_by: 'vtuber-stt', alias_of: id });
    expect(list).toEqual({ object: 'list', data: [{ id, object: 'model', created: expect.any(Number), owned_by: 'vtuber-stt' }, ...aliases.map(alias)] });
    // Each listed name answers GET /v1/models/{id} (what models.retrieve calls) as its own entry.
    for (const entry of list.data) expect(await json(await fetch(`${stack.proxy.url}/v1/models/${entry.id}`))).toEqual(entry);
    const missing = await fetch(`${stack.proxy.url}/v1/models/whisper-9`);
    expect(missing.status).toBe(404);
    expect((await json(missing)).error).toMatchObject({ code: 'model_not_found', param: 'model', type: 'invalid_request_error', message: expect.stringContaining('"whisper-9"') });
    for (const model of [id, 'whisper-1', 'gpt-4o-transcribe', 'anything']) {
      expect(await json(await post('/v1/audio/transcriptions', form(BRIEF, { model })))).toEqual(ANSWER);
    }
  });

  it('names the language as OpenAI does: json `languages: [{ code }]`, verbose_json its English name', async () => {
    // Told (ko) or detected (auto: English): the answer names the language the decode used.
    const ko = { language: 'ko', model: 'whisper-1' };
    expect(await json(await post('/v1/audio/transcriptions', form(BRIEF, ko)))).toEqual({ text: WORDS, languages: [{ code: 'ko' }] });
    expect(await json(await post('/v1/audio/transcriptions', form(BRIEF, { ...ko, response_format: 'verbose_json' })))).toMatchObject({ task: 'transcribe', language: 'korean', text: WORDS });
    expect(await json(await post('/v1/audio/transcriptions', form(BRIEF, { response_format: 'verbose_json' })))).toMatchObject({ language: 'english', text: WORDS });
  });

  it('gives word times from whisper.cpp token timestamps (timestamp_granularities[]=word)', async () => {
    const check = (words: { start: number; end: number }[], segment: { start: number; end: number }) => {
      for (let i = 0; i < words.length; i++) {
        expect(words[i]!.start).toBeLessThanOrEqual(words[i]!.end);
        expect(words[i]!.start).toBeGreaterThanOrEqual(segment.start);
        expect(words[i]!.end).toBeLessThanOrEqual(segment.end);
        if (i > 0) expect(words[i]!.start).toBeGreaterThanOrEqual(words[i - 1]!.start);
      }
    };
    // The 2.87 s clip: word times are under test, not the length of the decode.
    const verbose = await json(await post('/v1/audio/transcriptions', form(SHORT, { language: 'en', response_format: 'verbose_json', 'timestamp_granularities[]': ['word', 'segment'] })));
    expect(verbose.words.map((w: { word: string }) => w.word).join(' ')).toBe(WORDS);
    expect(verbose.segments.length).toBeGreaterThanOrEqual(1);
    for (const s of verbose.segments) check(verbose.words.filter((w: { start: number }) => w.start >= s.start && w.start <= s.end), s);
    expect(verbose.words.at(-1).end).toBeLessThanOrEqual(2.87);
    // Without the option: no words, and no word-level decode.
    expect(await json(await post('/v1/audio/transcriptions', form(SHORT, { language: 'en', response_format: 'verbose_json' })))).not.toHaveProperty('words');
    // /api/transcribe: words inside each segment, on the transcript's own timeline (ms).
    const rest = await json(await fetch(`${stack.proxy.url}/api/transcribe?language=en&word_timestamps=1`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: readFileSync(SHORT) }));
    for (const s of rest.segments) {
      expect(s.words.length).toBeGreaterThan(0);
      check(s.words.map((w: { start_ms: number; end_ms: number }) => ({ start: w.start_ms, end: w.end_ms })), { start: s.start_ms, end: s.end_ms });
    }
    // The service acknowledges the option for real.
    const c = await TestClient.connect(`${stack.service.url.replace(/^http/, 'ws')}/ws/transcribe`);
    c.ws.send(JSON.stringify({ type: 'config', word_timestamps: true }));
    expect(await c.next()).toMatchObject({ type: 'config', word_timestamps: true });
    await c.close();
  });

  it('puts word times on the connection\'s timeline in server turns, with their segment', async () => {
    // Two seconds of silence first: the utterance's own decode counts from its start, the connection from its first sample.
    const clip = loadClip('whisper.cpp/jfk.wav');
    const pcm = new Float32Array(2 * 16000 + clip.length + 2 * 16000);
    pcm.set(clip, 2 * 16000);
    const c = await TestClient.connect(`${stack.service.url.replace(/^http/, 'ws')}/ws/transcribe?turns=server`);
    c.ws.send(JSON.stringify({ type: 'config', word_timestamps: true }));
    expect(await c.next()).toMatchObject({ type: 'config', word_timestamps: true });
    c.sendAudio(encodeS16le(pcm));
    type Final = { final?: boolean; start_ms: number; segments: { start_ms: number; end_ms: number; words?: { start_ms: number; end_ms: number }[] }[] };
    let final: Final | undefined;
    while (!final) {
      const m = await c.next<{ type: string; final?: boolean }>();
      if (m.type === 'transcript' && m.final !== false) final = m as unknown as Final;
    }
    expect(final!.start_ms).toBeGreaterThan(1500);
    const words = final!.segments.flatMap((s) => s.words ?? []);
    expect(words.length).toBeGreaterThan(0);
    for (const s of final!.segments) {
      for (const w of s.words ?? []) {
        expect(w.start_ms).toBeGreaterThanOrEqual(s.start_ms);
        expect(w.end_ms).toBeLessThanOrEqual(s.end_ms);
      }
    }
    await c.close();
  });

  it('answers every /v1 error in OpenAI\'s shape, 404s included', async () => {
    const shape = { error: { message: expect.any(String), type: 'invalid_request_error', code: expect.any(String), param: expect.anything() } };
    const notFound = await fetch(`${stack.proxy.url}/v1/audio/speech`, { method: 'POST' });
    expect(notFound.status).toBe(404);
    expect(await json(notFound)).toMatchObject({ error: { type: 'invalid_request_error', code: 'unknown_url', param: null } });
    const cases: [FormData | string, string][] = [
      [form(SHORT, { response_format: 'xml' }), 'response_format'],
      [form(SHORT, { language: 'english!' }), 'language'],
      [form(SHORT, { 'timestamp_granularities[]': 'sentence' }), 'timestamp_granularities'],
      [(() => { const f = new FormData(); f.append('model', 'whisper-1'); return f; })(), 'file'],
      ['{"file": "x"}', 'file'],
    ];
    for (const [body, param] of cases) {
      const r = await fetch(`${stack.proxy.url}/v1/audio/transcriptions`, { method: 'POST', body, ...(typeof body === 'string' ? { headers: { 'content-type': 'application/json' } } : {}) });
      expect(r.status, param).toBe(400);
      expect(await json(r), param).toMatchObject({ ...shape, error: { ...shape.error, param } });
    }
  });

  it('refuses the combinations OpenAI refuses (400, OpenAI\'s error naming the parameter)', async () => {
    const cases: [string, Record<string, string | string[]>, string, RegExp][] = [
      ['/v1/audio/transcriptions', { 'timestamp_granularities[]': 'word' }, 'timestamp_granularities', /timestamp_granularities\[\] needs response_format "verbose_json" \(got "json"\)/],
      ['/v1/audio/transcriptions', { 'timestamp_granularities[]': ['segment', 'word'], response_format: 'srt' }, 'timestamp_granularities', /\(got "srt"\)/],
      ['/v1/audio/translations', { 'timestamp_granularities[]': 'segment', response_format: 'text' }, 'timestamp_granularities', /\(got "text"\)/],
      ...['text', 'srt', 'vtt', 'verbose_json'].map((format): [string, Record<string, string>, string, RegExp] => ['/v1/audio/transcriptions', { stream: 'true', response_format: format }, 'response_format', new RegExp(`stream=true .*response_format must be "json" or left out \\(got "${format}"\\)`)]),
    ];
    for (const [path, fields, param, message] of cases) {
      const r = await post(path, form(SHORT, { model: 'whisper-1', ...fields }));
      const label = `${path} ${JSON.stringify(fields)}`;
      expect(r.status, label).toBe(400);
      expect((await json(r)).error, label).toEqual({ type: 'invalid_request_error', code: 'invalid_value', param, message: expect.stringMatching(message) });
    }
  });

  it('works with the official openai SDK', async () => {
    const client = new OpenAI({ baseURL: `${stack.proxy.url}/v1`, apiKey: 'not-checked' });
    const mp3 = make(SHORT, 'mp3');
    const plain = await client.audio.transcriptions.create({ file: createReadStream(mp3), model: 'whisper-1', language: 'en' });
    expect(plain).toEqual(ANSWER);
    const verbose = await client.audio.transcriptions.create({ file: createReadStream(SHORT), model: 'whisper-1', response_format: 'verbose_json', timestamp_granularities: ['word'] });
    expect(verbose.words?.map((w) => w.word).join(' ')).toBe(WORDS);
    const stream = await client.audio.transcriptions.create({ file: createReadStream(make(BRIEF, 'ogg')), model: 'gpt-4o-transcribe', stream: true });
    const events: { type: string; delta?: string; text?: string }[] = [];
    for await (const event of stream) events.push(event);
    expect(events.at(-1)).toMatchObject({ type: 'transcript.text.done', text: events.filter((e) => e.type === 'transcript.text.delta').map((e) => e.delta).join('') });
    // Something was transcribed: the joined deltas are the words, not an empty join of none.
    expect(events.at(-1)!.text!.trim()).toBe(WORDS);
    const translated = await client.audio.translations.create({ file: createReadStream(mp3), model: 'whisper-1' });
    expect(translated.text).toBe(WORDS);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('whisper-1');
    // What a client checks first: the name it will send is known here, as an alias of the loaded model.
    expect(await client.models.retrieve('whisper-1')).toMatchObject({ id: 'whisper-1', object: 'model', alias_of: models.data[0]!.id });
    const unknown = await client.models.retrieve('no-such-model').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    // A combination OpenAI refuses is refused here too, as the SDK's BadRequestError.
    const combo = await client.audio.transcriptions.create({ file: createReadStream(SHORT), model: 'whisper-1', response_format: 'text', timestamp_granularities: ['word'] }).catch((e: unknown) => e);
    expect(combo).toBeInstanceOf(OpenAI.BadRequestError);
    expect((combo as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('timestamp_granularities');
    const error = await client.audio.transcriptions.create({ file: new File([Buffer.from('garbage!')], 'x.mp3'), model: 'whisper-1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/not a recognised audio file/);
    writeFileSync(join(dir, 'done'), '');
  });
});
