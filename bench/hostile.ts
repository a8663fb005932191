/**
 * `npm run bench:hostile`: issue 18's heavy hostile inputs against the stack as `npm start` runs
 * it (no keys, loopback), one case at a time, with each service's resident memory before and
 * after (after a settle), and whether an ordinary request was still served at the end of each
 * case. The bar: memory returns within 10 % of where it was, and the stack keeps serving.
 * Loopback only, every loop bounded in count and time. Results: bench/results/hostile.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { encodeWav } from '@vtuber-stt/core';
import WebSocket from 'ws';
import { audioPath, loadClip } from '../test/helpers/fixtures.js';
import { feltModels } from './felt/models.js';
import { startStack } from './felt/stack.js';

const log = (line: string) => console.error(`[hostile] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SETTLE_MS = 3000;
const MiB = 1024 * 1024;

const models = feltModels(true);
const stack = await startStack({ STT_MODEL: models.base, STT_TINY_MODEL: models.tiny });
const host = '127.0.0.1';
const base = `http://${host}:${stack.port}`;
const wav = readFileSync(audioPath('speechbrain/spk1_snt1.wav'));
const clip = loadClip('speechbrain/spk1_snt1.wav');
const long = new Float32Array(clip.length * 10);
for (let i = 0; i < 10; i++) long.set(clip, i * clip.length);
const longWav = encodeWav(long, 16000);

/** Sends `chunks` as a request body (stopping when the server answers or drops), resolves with the status or the error. */
function post(path: string, headers: Record<string, string>, chunks: Iterable<Buffer>, method = 'POST', abortAfterMs?: number): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (what: string) => {
      if (!settled) {
        settled = true;
        resolve(what);
      }
    };
    const req = request({ host, port: stack.port, path, method, headers }, (res: IncomingMessage) => {
      res.resume();
      res.on('end', () => done(String(res.statusCode)));
      res.on('error', () => done(String(res.statusCode)));
    });
    req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    if (abortAfterMs !== undefined) setTimeout(() => (req.destroy(), done('aborted')), abortAfterMs);
    const it = chunks[Symbol.iterator]();
    const pump = () => {
      for (;;) {
        if (settled || req.destroyed) return;
        const next = it.next();
        if (next.done) return void req.end();
        if (!req.write(next.value)) return void req.once('drain', pump);
      }
    };
    pump();
  });
}

function* multipartFields(boundary: string, fields: number, fieldBytes: number): Generator<Buffer> {
  const value = Buffer.alloc(fieldBytes, 0x61);
  for (let i = 0; i < fields; i++) {
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\n`);
    yield value;
    yield Buffer.from('\r\n');
  }
  yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`);
  yield wav;
  yield Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${boundary}--\r\n`);
}

function fieldFlood(count: number, fields: number): Promise<string[]> {
  const boundary = 'xHostileBoundary';
  const headers = { 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' };
  return Promise.all(Array.from({ length: count }, () => post('/v1/audio/transcriptions', headers, multipartFields(boundary, fields, MiB))));
}

function openSockets(n: number, path: string): Promise<WebSocket[]> {
  return Promise.all(
    Array.from({ length: n }, () => new Promise<WebSocket>((resolve) => {
      const ws = new WebSocket(`ws://${host}:${stack.port}${path}`);
      ws.on('error', () => resolve(ws));
      ws.on('open', () => resolve(ws));
    })),
  );
}

/** An ordinary request: a WAV through the project's REST route. */
async function ordinary(): Promise<string> {
  try {
    const res = await fetch(`${base}/api/transcribe`, { method: 'POST', body: wav, headers: { 'content-type': 'audio/wav' }, signal: AbortSignal.timeout(60_000) });
    const body = (await res.json().catch(() => ({}))) as { text?: string };
    return res.status === 200 && body.text ? 'served' : `failed (${res.status})`;
  } catch (error) {
    return `failed (${(error as Error).message})`;
  }
}

/** A WebSocket frame from the client: masked, as RFC 6455 requires. */
function clientFrame(opcode: number, payload = Buffer.alloc(0)): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, body]);
}

function rawUpgrade(path: string): Promise<import('node:net').Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(stack.port, host, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${stack.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    socket.once('data', () => resolve(socket));
    socket.on('error', reject);
  });
}

function id3Playlist(target: string): Buffer {
  return Buffer.concat([Buffer.from([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, 0, 0]), Buffer.from(`#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXTINF:30,\nfile:${target}\n#EXT-X-ENDLIST\n`)]);
}

/** A WAV upload that sends one byte a second for `seconds`, then gives up: what the server does meanwhile. */
function trickle(seconds: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host, port: stack.port, path: '/api/transcribe', method: 'POST', headers: { 'content-type': 'audio/wav', 'content-length': String(wav.length) } }, (res) => {
      res.resume();
      resolve(String(res.statusCode));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    let sent = 0;
    const timer = setInterval(() => {
      if (req.destroyed || sent >= seconds) {
        clearInterval(timer);
        req.destroy();
        resolve('held to the end');
        return;
      }
      req.write(wav.subarray(sent, sent + 1));
      sent++;
    }, 1000);
  });
}

const tally = (outcomes: string[]) => JSON.stringify(outcomes.reduce<Record<string, number>>((m, o) => ((m[o] = (m[o] ?? 0) + 1), m), {}));

const cases: [string, () => Promise<string>][] = [
  ['6 x 999 fields of 1 MiB (multipart)', async () => tally(await fieldFlood(6, 999))],
  ['300 fields of 1 MiB (multipart)', async () => (await fieldFlood(1, 300)).join(' ')],
  ['8 x PUT /api/gpu with 50 MiB of JSON', async () => {
    const json = (): Iterable<Buffer> => [Buffer.from('{"enabled":true,"x":"'), ...Array.from({ length: 50 }, () => Buffer.alloc(MiB, 0x61)), Buffer.from('"}')];
    return tally(await Promise.all(Array.from({ length: 8 }, () => post('/api/gpu', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, json(), 'PUT'))));
  }],
  ['ID3 + HLS playlist naming a server file', async () => {
    const form = new FormData();
    form.set('file', new Blob([id3Playlist(audioPath('speechbrain/spk1_snt1.wav'))]), 'a.mp3');
    form.set('model', 'whisper-1');
    const res = await fetch(`${base}/v1/audio/transcriptions`, { method: 'POST', body: form });
    return `${res.status} ${(await res.text()).slice(0, 120)}`;
  }],
  ['64 idle /ws/transcribe sessions, then REST', async () => {
    const sockets = await openSockets(64, '/ws/transcribe');
    const served = await ordinary();
    for (const s of sockets) s.terminate();
    return `${sockets.filter((s) => s.readyState === WebSocket.OPEN || s.readyState === WebSocket.CLOSED).length} opened; REST meanwhile: ${served}`;
  }],
  ['200 frozen sockets (handshake, then never read), then REST', async () => {
    const sockets = await Promise.all(Array.from({ length: 200 }, () => rawUpgrade('/ws/transcribe').catch(() => undefined)));
    for (const s of sockets) s?.pause();
    const served = await ordinary();
    for (const s of sockets) s?.destroy();
    return `${sockets.filter(Boolean).length} upgraded; REST meanwhile: ${served}`;
  }],
  ['500 pings in one write', async () => {
    const socket = await rawUpgrade('/ws/transcribe');
    const closed = new Promise<string>((resolve) => {
      let reply = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => (reply = Buffer.concat([reply, d]).subarray(-200)));
      socket.on('close', () => resolve(reply.includes(0x88) ? `closed: ${reply.subarray(reply.lastIndexOf(0x88) + 4).toString('latin1')}` : 'closed, no close frame'));
      socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    socket.write(Buffer.concat(Array.from({ length: 500 }, () => clientFrame(0x9, Buffer.from('p')))));
    const outcome = await Promise.race([closed, sleep(5000).then(() => 'answered, still open')]);
    socket.destroy();
    return outcome;
  }],
  ['/ws/detect client that sends 20 000 frames and never reads', async () => {
    const ws = new WebSocket(`ws://${host}:${stack.port}/ws/detect`);
    await new Promise((r) => ws.once('open', r));
    (ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const frame = Buffer.alloc(1024);
    for (let i = 0; i < 20_000 && ws.readyState === WebSocket.OPEN; i++) ws.send(frame);
    const closed = new Promise<string>((r) => ws.once('close', (code, reason) => r(`closed ${code} ${reason.toString()}`)));
    const outcome = await Promise.race([closed, sleep(30_000).then(() => 'still open after 30 s')]);
    ws.terminate();
    return outcome;
  }],
  ['6 x 30 s uploads aborted after 300 ms', async () => {
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => post('/api/transcribe', { 'content-type': 'audio/wav' }, [longWav], 'POST', 300)));
    return `${tally(outcomes)}; REST after: ${await ordinary()}`;
  }],
  ['100 uploads at 1 byte/s for 40 s', async () => tally(await Promise.all(Array.from({ length: 100 }, () => trickle(40))))],
];

interface Row {
  case: string;
  outcome: string;
  rss_before_mib: Record<string, number>;
  rss_after_mib: Record<string, number>;
  growth_percent: Record<string, number>;
  served_after: string;
}

const rows: Row[] = [];
try {
  log(`stack ready on port ${stack.port}; ${await ordinary()} (warm-up)`);
  for (const [name, run] of cases) {
    const before = stack.rss();
    log(`${name} ...`);
    const outcome = await run().catch((e: Error) => `threw: ${e.message}`);
    await sleep(SETTLE_MS);
    const after = stack.rss();
    const served = await ordinary();
    const growth = Object.fromEntries(Object.keys(before).map((k) => [k, Number((((after[k] ?? 0) - before[k]!) / before[k]! * 100).toFixed(1))]));
    rows.push({ case: name, outcome, rss_before_mib: before, rss_after_mib: after, growth_percent: growth, served_after: served });
    log(`  ${outcome}; rss ${JSON.stringify(before)} -> ${JSON.stringify(after)}; then ${served}`);
  }
} finally {
  await stack.stop();
}

const dir = join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'hostile.json'), JSON.stringify({ when: new Date().toISOString(), rows }, null, 2));
const services = Object.keys(rows[0]?.rss_before_mib ?? {}).filter((s) => s !== 'supervisor');
console.log(`| case | outcome | ${services.map((s) => `${s} MiB before → after`).join(' | ')} | served after |`);
console.log(`|---|---|${services.map(() => '---|').join('')}---|`);
for (const r of rows) console.log(`| ${r.case} | ${r.outcome.replaceAll('|', '/')} | ${services.map((s) => `${r.rss_before_mib[s]} → ${r.rss_after_mib[s]} (${r.growth_percent[s]! >= 0 ? '+' : ''}${r.growth_percent[s]} %)`).join(' | ')} | ${r.served_after} |`);
const worst = Math.max(...rows.flatMap((r) => services.map((s) => r.growth_percent[s] ?? 0)));
console.log(`\nworst growth after one case: ${worst} % (bar: 10 %); not served after a case: ${rows.filter((r) => r.served_after !== 'served').length}`);
