import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWav, encodeWav } from '@vtuber-stt/core';
import { audioPath, fixtureModel } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { until, untilAsync } from './helpers/wait.js';

/**
 * The HTTP side of the bad-input corpus, against a real proxy and service: bodies, forms and
 * fields past what the API needs, declared lengths past the limit, truncated forms, parameters
 * OpenAI refuses, clients that leave before their answer, and bodies that stall or trickle. Each
 * answer is clear (a 4xx naming the problem, or a 408 and a closed connection), and an ordinary
 * request is served after each.
 */

const WORDS = syntheticText(fixtureModel('base'), 20);
const SHORT = readFileSync(audioPath('speechbrain/spk1_snt1.wav'));
const BODY_TIMEOUT_MS = 1000;
const MiB = 1024 * 1024;

type OpenAIError = { error: { message: string; type: string; code: string | null; param: string | null } };

function form(fields: Record<string, string> = {}, file: Buffer = SHORT): FormData {
  const f = new FormData();
  f.append('file', new Blob([file]), 'speech.wav');
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

/** A form as the bytes and content type a client sends. */
async function encoded(f: FormData): Promise<{ bytes: Buffer; type: string }> {
  const r = new Request('http://x/', { method: 'POST', body: f });
  return { bytes: Buffer.from(await r.arrayBuffer()), type: r.headers.get('content-type')! };
}

/** What a raw connection received before the server closed it. */
interface Exchange {
  status: number;
  text: string;
  /** Bytes this client had sent when the answer came. */
  sent: number;
}

/**
 * Sends `head` and then `body` chunks (`next` gives the next one, undefined to stop sending and
 * wait), over a plain TCP connection, until the server answers and closes it.
 */
function rawExchange(port: number, head: string, next: (sent: number) => Buffer | undefined): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let sent = 0;
    let answeredAt: number | undefined;
    const pump = () => {
      while (answeredAt === undefined) {
        const chunk = next(sent);
        if (!chunk) return;
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
    };
    socket.once('connect', () => {
      socket.write(head);
      pump();
    });
    socket.on('data', (d) => {
      answeredAt ??= sent;
      received += d.toString('latin1');
    });
    // Writes the server no longer reads may fail once it has answered and closed: that is the point.
    socket.on('error', (error) => (answeredAt === undefined && !received ? reject(error) : undefined));
    socket.once('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0);
      resolve({ status, text: received.slice(received.indexOf('\r\n\r\n') + 4), sent: answeredAt ?? sent });
    });
  });
}

/** A body sent one byte every `everyMs`, as a slow-loris client sends it, until the server closes the connection. */
function trickle(port: number, head: string, everyMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.once('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        sent++;
        socket.write(Buffer.alloc(1));
      }, everyMs);
    });
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearInterval(timer);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0), text: received, sent });
    });
  });
}

/** Sums a metric's samples, those whose labels match `labels` only. */
async function metric(url: string, name: string, labels = /.*/): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? ([\\d.e+-]+)$`, 'gm'))) if (labels.test(m[1] ?? '')) sum += Number(m[2]);
  return sum;
}

describe('bad HTTP input: bounded, answered clearly, and the proxy serves on', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  let port: number;
  const post = (path: string, body: FormData) => fetch(`${proxy.url}${path}`, { method: 'POST', body });

  /** An ordinary request on each REST surface is still transcribed. */
  async function stillServes(label: string): Promise<void> {
    const openai = await post('/v1/audio/transcriptions', form({ model: 'whisper-1', language: 'en' }));
    expect(openai.status, label).toBe(200);
    expect(await openai.json(), label).toEqual({ text: WORDS, languages: [{ code: 'en' }] });
    const rest = await fetch(`${proxy.url}/api/transcribe`, { method: 'POST', body: SHORT, headers: { 'content-type': 'audio/wav' } });
    expect(rest.status, label).toBe(200);
    expect(((await rest.json()) as { text: string }).text, label).toBe(WORDS);
  }

  beforeAll(async () => {
    service = await startTestService();
    proxy = await startTestProxy({ cpu: service.url }, { bodyTimeoutMs: BODY_TIMEOUT_MS });
    port = Number(new URL(proxy.url).port);
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('a declared Content-Length over the limit is refused (413) before the body is read, on every route that takes one', async () => {
    const cases: [string, string, RegExp][] = [
      ['POST /v1/audio/transcriptions', 'multipart/form-data; boundary=X', /"code":"file_too_large"/],
      ['POST /v1/audio/translations', 'multipart/form-data; boundary=X', /"code":"file_too_large"/],
      ['POST /api/transcribe', 'audio/wav', /"code":"body_too_large"/],
      ['PUT /api/gpu', 'application/json', /"code":"body_too_large"/],
    ];
    for (const [route, type, code] of cases) {
      const [method, path] = route.split(' ');
      let chunks = 0;
      // 1 GiB declared; only the first 64 KiB is ever offered, and the answer must come anyway.
      const answer = await rawExchange(port, `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nContent-Length: ${1024 * MiB}\r\n\r\n`, () =>
        chunks++ < 1 ? Buffer.alloc(64 * 1024, 0x61) : undefined,
      );
      expect(answer.status, route).toBe(413);
      expect(answer.text, route).toMatch(code);
    }
    // The GPU toggle takes a few bytes of JSON: 1 KiB is its limit, declared or not.
    const big = await fetch(`${proxy.url}/api/gpu`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: true, pad: 'x'.repeat(4096) }) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ code: 'body_too_large', error: expect.stringMatching(/1024 bytes/) });
    const fine = await fetch(`${proxy.url}/api/gpu`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"enabled":false}' });
    expect(fine.status).toBe(200);
    await stillServes('after declared lengths over the limit');
  });

  it('six concurrent forms of 999 fields of 1 MiB: each refused at its first oversized field, not buffered', async () => {
    const flood = () => {
      const boundary = 'flood';
      const value = Buffer.alloc(MiB, 0x61);
      let i = 0;
      let stage = 0;
      // Part header, 1 MiB value, part end; 999 times; never the closing boundary (it never gets there).
      return rawExchange(port, `POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nTransfer-Encoding: chunked\r\n\r\n`, () => {
        if (i >= 999) return undefined;
        const piece = stage === 0 ? Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\n`) : stage === 1 ? value : Buffer.from('\r\n');
        if (++stage === 3) {
          stage = 0;
          i++;
        }
        return Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
      });
    };
    const answers = await Promise.all(Array.from({ length: 6 }, flood));
    for (const a of answers) {
      expect(a.status).toBe(413);
      const body = JSON.parse(a.text) as OpenAIError;
      expect(body.error).toMatchObject({ code: 'form_too_large', param: 'f0', type: 'invalid_request_error' });
      expect(body.error.message).toMatch(/longer than 16384 bytes/);
      // Refused after the first field, not after 999 MiB: what had been sent when the answer came is bounded.
      expect(a.sent).toBeLessThan(32 * MiB);
    }
    await stillServes('after forms of huge fields');
  });

  it('forms past what the API needs: many small fields, two files, a file under another name', async () => {
    const many = form({ model: 'whisper-1' });
    for (let i = 0; i < 40; i++) many.append(`extra${i}`, 'x');
    const r1 = await post('/v1/audio/transcriptions', many);
    expect(r1.status).toBe(413);
    expect(((await r1.json()) as OpenAIError).error).toMatchObject({ code: 'form_too_large', message: expect.stringMatching(/more than 16 fields/) });

    const two = form();
    two.append('file', new Blob([SHORT]), 'again.wav');
    const r2 = await post('/v1/audio/transcriptions', two);
    expect(r2.status).toBe(413);
    expect(((await r2.json()) as OpenAIError).error).toMatchObject({ code: 'form_too_large', param: 'file', message: expect.stringMatching(/one file/) });

    const other = new FormData();
    other.append('audio', new Blob([SHORT]), 'speech.wav');
    const r3 = await post('/v1/audio/transcriptions', other);
    expect(r3.status).toBe(400);
    expect(((await r3.json()) as OpenAIError).error).toMatchObject({ param: 'audio', message: expect.stringMatching(/named "file"/) });
    await stillServes('after oversized forms');
  });

  it('a truncated multipart body: 400 saying so, not a 500', async () => {
    const { bytes, type } = await encoded(form({ model: 'whisper-1' }));
    for (const cut of [bytes.subarray(0, bytes.length - 300), bytes.subarray(0, bytes.length - 10)]) {
      const r = await fetch(`${proxy.url}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': type }, body: cut });
      expect(r.status).toBe(400);
      expect(((await r.json()) as OpenAIError).error).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', message: expect.stringMatching(/truncated or malformed/) });
    }
    await stillServes('after truncated forms');
  });

  it('temperature is checked as OpenAI checks it: abc and 5 are 400 naming the param; 0.3 is taken', async () => {
    for (const value of ['abc', '5', '-0.1', '', '1e9', 'NaN']) {
      const r = await post('/v1/audio/transcriptions', form({ model: 'whisper-1', temperature: value }));
      expect(r.status, value).toBe(400);
      expect(((await r.json()) as OpenAIError).error, value).toMatchObject({ code: 'invalid_value', param: 'temperature', message: expect.stringMatching(/from 0 to 1/) });
    }
    const ok = await post('/v1/audio/transcriptions', form({ model: 'whisper-1', language: 'en', temperature: '0.3' }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ text: WORDS, languages: [{ code: 'en' }] });
  });

  it('a language Whisper does not know is refused naming it, on both REST surfaces', async () => {
    for (const path of ['/v1/audio/transcriptions', '/v1/audio/translations']) {
      const r = await post(path, form({ model: 'whisper-1', language: 'zz' }));
      expect(r.status, path).toBe(400);
      expect(((await r.json()) as OpenAIError).error, path).toMatchObject({ code: 'invalid_value', param: 'language', message: expect.stringMatching(/"zz"/) });
    }
    const rest = await fetch(`${proxy.url}/api/transcribe?language=zz`, { method: 'POST', body: SHORT, headers: { 'content-type': 'audio/wav' } });
    expect(rest.status).toBe(400);
    expect(await rest.json()).toMatchObject({ code: 'bad_query', error: expect.stringMatching(/language.*"zz"/) });
    // Known ones pass, in any case, and so does auto.
    for (const language of ['KO', 'auto', 'yue']) expect((await post('/v1/audio/transcriptions', form({ model: 'whisper-1', language }))).status, language).toBe(200);
    await stillServes('after unknown languages');
  });

  it('uploads whose clients leave right after sending are dropped: the service does not decode them all', async () => {
    // 33 s of speech, as WAV (straight to the service) and as MP3 (through ffmpeg first).
    const jfk = decodeWav(readFileSync(audioPath('whisper.cpp/jfk.wav')));
    const long = new Float32Array(jfk.samples.length * 3);
    for (let i = 0; i < 3; i++) long.set(jfk.samples, i * jfk.samples.length);
    const dir = mkdtempSync(join(tmpdir(), 'abandoned-'));
    const wav = encodeWav(long, jfk.sampleRate);
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'wav', '-i', 'pipe:0', '-c:a', 'libmp3lame', '-b:a', '32k', join(dir, 'long.mp3')], { input: wav });
    const mp3 = readFileSync(join(dir, 'long.mp3'));
    const uploads = [
      { path: '/v1/audio/transcriptions', ...(await encoded(form({ model: 'whisper-1' }, wav))) },
      { path: '/v1/audio/transcriptions', ...(await encoded(form({ model: 'whisper-1' }, mp3))) },
      { path: '/api/transcribe', bytes: wav, type: 'audio/wav' },
      { path: '/api/transcribe', bytes: mp3, type: 'audio/mpeg' },
    ];
    const decodedBefore = await metric(service.url, 'stt_requests_total');
    const abortedBefore = await metric(proxy.url, 'stt_proxy_requests_total', /outcome="aborted"/);
    // Each client sends its whole body, then closes its connection without waiting for the answer.
    await Promise.all(
      uploads.map(
        ({ path, bytes, type }) =>
          new Promise<void>((resolve) => {
            const req = request(`${proxy.url}${path}`, { method: 'POST', headers: { 'content-type': type, 'content-length': String(bytes.length) } });
            req.on('error', () => undefined);
            req.on('response', (res: IncomingMessage) => res.resume());
            req.end(bytes, () => {
              req.destroy();
              resolve();
            });
          }),
      ),
    );
    // Every one is counted as dropped by the proxy, and the service is left with nothing queued.
    await untilAsync(async () => (await metric(proxy.url, 'stt_proxy_requests_total', /outcome="aborted"/)) - abortedBefore >= uploads.length);
    await untilAsync(async () => (await metric(service.url, 'stt_queue_depth')) === 0);
    const decoded = (await metric(service.url, 'stt_requests_total')) - decodedBefore;
    expect(decoded).toBeLessThan(uploads.length);
    await stillServes('after abandoned uploads');
  });

  it('a body that stalls, one that trickles, and headers that never end: 408 and closed; the sockets go away', async () => {
    const open = () => new Promise<number>((r) => proxy.app.server.getConnections((_e, n) => r(n)));
    const before = await open();
    const head = (path: string, length: number) => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\nContent-Length: ${length}\r\n\r\n`;
    let stalled = false;
    const answers = await Promise.all([
      // Ten bytes of a declared thousand, then nothing.
      rawExchange(port, head('/api/transcribe', 1000), () => (stalled ? undefined : ((stalled = true), Buffer.alloc(10)))),
      rawExchange(port, head('/v1/audio/transcriptions', 1000).replace('audio/wav', 'multipart/form-data; boundary=X'), () => undefined),
      // One byte every 20 ms: the thousand declared would take 20 s.
      trickle(port, head('/api/transcribe', 1000), 20),
      // A request line and one header, never the blank line.
      rawExchange(port, 'POST /api/transcribe HTTP/1.1\r\nHost: 127.0.0.1\r\n', () => undefined),
    ]);
    for (const a of answers) expect(a.status).toBe(408);
    expect(await open()).toBeLessThanOrEqual(before);
    await stillServes('after slow bodies');
  });
  it('a proxy out of file descriptors says so (503 overloaded, naming itself) and leaves its healthy backend up', async () => {
    // The proxy as its own process under a small open-file limit, so that idle connections can use up its descriptors.
    const state = join(mkdtempSync(join(tmpdir(), 'emfile-')), 'state.json');
    const child = spawn('bash', ['-c', `ulimit -n 128 && exec "${process.execPath}" --import tsx stt/proxy/src/main.ts`], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', STT_CPU_URL: service.url, STT_DETECT_URL: '', STT_PROXY_STATE: state, STT_PROXY_POLL_MS: '600000', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const idle: Socket[] = [];
    try {
      await until(() => /stt_proxy ready: control panel (http:\/\/[\d.]+:\d+)/.test(out) || child.exitCode !== null, 30_000);
      expect(child.exitCode, `the proxy exited under ulimit -n 128:\n${out}`).toBeNull();
      const url = /stt_proxy ready: control panel (http:\/\/[\d.]+:\d+)/.exec(out)![1]!;
      // One connection kept open to ask on once the descriptors are gone.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const ask = (method: string, path: string, body?: Buffer, type?: string) =>
        new Promise<{ status: number; text: string }>((resolve, reject) => {
          const req = request(`${url}${path}`, { method, agent, headers: body ? { 'content-type': type!, 'content-length': String(body.length) } : {} }, (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, text }));
          });
          req.on('error', reject);
          req.end(body);
        });
      const { bytes, type } = await encoded(form({ model: 'whisper-1' }));
      // Served before: every module the route needs is loaded while descriptors remain.
      expect((await ask('POST', '/v1/audio/transcriptions', bytes, type)).status).toBe(200);
      // Idle connections until the proxy has no descriptor left: it then drops new ones at once.
      const exhaust = async (count: number) => {
        let dropped = 0;
        for (let i = 0; i < count; i++) {
          const s = connect(Number(new URL(url).port), '127.0.0.1');
          s.on('error', () => undefined);
          s.once('close', () => dropped++);
          idle.push(s);
        }
        await until(() => dropped > 0, 20_000);
      };
      await exhaust(200);
      // A descriptor the proxy frees meanwhile (a keep-alive socket expiring) may serve one request;
      // taken again before each try, until one finds none. None may ever blame the backend.
      let refused: { status: number; text: string } | undefined;
      for (let attempt = 0; attempt < 5 && !refused; attempt++) {
        await exhaust(4);
        const r = await ask('POST', '/v1/audio/transcriptions', bytes, type);
        expect(r.status, r.text).not.toBe(502);
        if (r.status !== 200) refused = r;
      }
      expect(refused?.status).toBe(503);
      expect((JSON.parse(refused!.text) as OpenAIError).error).toMatchObject({ code: 'overloaded', message: expect.stringMatching(/stt_proxy has run out of file descriptors.*cpu backend \(which is not at fault\)/) });
      // The backend was never reached, so it is not marked down.
      const status = JSON.parse((await ask('GET', '/api/status')).text) as { backends: { cpu: { state: string } } };
      expect(status.backends.cpu.state).toBe('ready');
      for (const s of idle.splice(0)) s.destroy();
      agent.destroy();
      await untilAsync(async () => (await fetch(`${url}/health`).then((r) => r.status, () => 0)) === 200);
      const served = await fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', body: form({ model: 'whisper-1', language: 'en' }) });
      expect(served.status).toBe(200);
      expect(await served.json()).toEqual({ text: WORDS, languages: [{ code: 'en' }] });
    } finally {
      for (const s of idle) s.destroy();
      child.kill('SIGTERM');
      await exited;
    }
  });
});
