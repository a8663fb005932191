/**
 * /ws/detect under load: Silero's cost per 32 ms chunk, then N concurrent real-time streams
 * against the real tiny_ws process (silero, then hybrid), with per-chunk reply latency; then the
 * same real-time streams while one more client (its own process) floods 20,000 2-byte frames at once, with the
 * others' reply latency while the flood is being answered beside the same streams' without it.
 * Usage: npm run bench:detect [-- --streams 50 --seconds 10 --flood 20000 --flood-only]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeS16le, SileroModel } from '@vtuber-stt/core';
import { fixtureModel, loadClip } from '../test/helpers/fixtures.js';
import { syntheticModel } from '../test/helpers/synthetic_model.js';
import { TestClient } from '../test/helpers/ws_client.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const STREAMS = arg('streams', 50);
const FLOOD = arg('flood', 20_000);
const SECONDS = arg('seconds', 10);
const CHUNK = 512;
const speech = loadClip('coqui-tts-ljspeech/LONG_LJ001-0001_to_0008_concat.wav');
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

// 1. Silero alone, one stream, in this process.
const model = await SileroModel.load();
const stream = model.createStream();
const n = 3000;
for (let i = 0; i < 100; i++) await stream.push(speech.subarray(i * CHUNK, (i + 1) * CHUNK));
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < n; i++) await stream.push(speech.subarray((i % 1500) * CHUNK, ((i % 1500) + 1) * CHUNK));
const wall = (performance.now() - t0) / n;
const cpu = process.cpuUsage(cpu0);
const perChunk = { wall_ms: Number(wall.toFixed(3)), cpu_ms: Number(((cpu.user + cpu.system) / 1000 / n).toFixed(3)) };
console.error(`silero per 32 ms chunk: ${JSON.stringify(perChunk)}`);
await model.release();

async function metricsCpu(url: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  return Number(/process_cpu_seconds_total\{[^}]*\} ([\d.e+-]+)/.exec(text)?.[1] ?? 0);
}

/** The flooding client (bench/flood_client.ts) in a process of its own, connected and waiting for `go`. */
async function startFlooder(url: string, frames: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/flood_client.ts', url, String(frames)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  const answered = new Promise<number>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('open\n')) opened();
      const m = /answered (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    }),
  );
  await open;
  return { answered, go: () => child.stdin.write('go\n'), kill: () => child.kill('SIGTERM') };
}

async function load(detector: string, env: Record<string, string>, streams: number, flood = 0) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'stt/tiny_ws/src/main.ts'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', STT_DETECTOR: detector, STT_THREADS: '1', STT_MAX_CONNECTIONS: String(streams + 10), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    const on = (d: Buffer) => {
      out += d.toString();
      const m = /ready on ws:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('exit', (code) => reject(new Error(`tiny_ws exited ${code}: ${out}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const clients = await Promise.all(Array.from({ length: streams }, () => TestClient.connect(`ws://127.0.0.1:${port}/ws/detect`)));
  const latencies: number[] = [];
  /** Replies to chunks sent while the flood was being answered. */
  const duringFlood: number[] = [];
  const floodWindow = { start: Infinity, end: Infinity };
  let confirmed = 0;
  let withdrawn = 0;
  const sentAt: number[][] = clients.map(() => []);
  clients.forEach((c, k) =>
    c.ws.on('message', (data) => {
      const reply = JSON.parse(data.toString()) as { speech_confirmed?: number; speech_withdrawn?: number };
      const sent = sentAt[k]!.shift()!;
      latencies.push(performance.now() - sent);
      if (sent >= floodWindow.start && sent <= floodWindow.end) duringFlood.push(performance.now() - sent);
      if (reply.speech_confirmed !== undefined) confirmed++;
      if (reply.speech_withdrawn !== undefined) withdrawn++;
    }),
  );
  const cpuBefore = await metricsCpu(base);
  const ticks = Math.round((SECONDS * 1000) / 32);
  const wire = clients.map((_, k) => encodeS16le(speech.subarray(k * 8000, k * 8000 + ticks * CHUNK)));
  // The flood: one more client, in its own process, sends FLOOD tiny frames at a quarter of the run.
  const flooder = flood ? await startFlooder(`ws://127.0.0.1:${port}/ws/detect`, flood) : undefined;
  let floodAnswered = 0;
  flooder?.answered.then((n) => {
    floodAnswered = n;
    floodWindow.end = performance.now();
  });
  const start = performance.now();
  for (let t = 0; t < ticks; t++) {
    if (flooder && t === Math.floor(ticks / 4)) {
      floodWindow.start = performance.now();
      flooder.go();
    }
    // Real time: chunk t is due at t * 32 ms.
    const due = start + t * 32;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    clients.forEach((c, k) => {
      sentAt[k]!.push(performance.now());
      c.ws.send(wire[k]!.subarray(t * CHUNK * 2, (t + 1) * CHUNK * 2));
    });
  }
  const expected = ticks * streams;
  const until = Date.now() + 10_000;
  while ((latencies.length < expected || (flood && floodAnswered < flood)) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const cpuSeconds = (await metricsCpu(base)) - cpuBefore;
  await Promise.all(clients.map((c) => c.close()));
  flooder?.kill();
  child.kill('SIGTERM');
  return {
    detector,
    streams,
    flood: flood ? { frames: flood, answered: floodAnswered, answered_in_ms: Math.round(floodWindow.end - floodWindow.start), others_replies: duringFlood.length, others_p50_ms: Number(pct(duringFlood, 50).toFixed(2)), others_p99_ms: Number(pct(duringFlood, 99).toFixed(2)), others_max_ms: Number(Math.max(...duringFlood).toFixed(2)) } : undefined,
    chunks: expected,
    answered: latencies.length,
    p50_ms: Number(pct(latencies, 50).toFixed(2)),
    p99_ms: Number(pct(latencies, 99).toFixed(2)),
    max_ms: Number(Math.max(...latencies).toFixed(2)),
    server_cpu_percent_of_one_core: Number(((cpuSeconds / SECONDS) * 100).toFixed(1)),
    confirmed,
    withdrawn,
  };
}

const tiny = syntheticModel(fixtureModel('tiny'), 5);
// --flood-only: just the flood and its baseline (10 real-time silero streams without it).
const runs = process.argv.includes('--flood-only')
  ? [await load('silero', {}, 10), await load('silero', {}, 10, FLOOD)]
  : [
      await load('silero', {}, STREAMS),
      await load('hybrid', { STT_TINY_MODEL: tiny }, STREAMS),
      await load('silero', {}, 10),
      await load('hybrid', { STT_TINY_MODEL: tiny }, 10),
      await load('silero', {}, 10, FLOOD),
    ];
const baseline = runs.find((r) => r.detector === 'silero' && r.streams === 10 && !r.flood)!;
for (const r of runs) console.error(JSON.stringify(r));
const table = [
  `Silero per 32 ms chunk (one stream, in process): ${perChunk.cpu_ms} ms CPU, ${perChunk.wall_ms} ms wall`,
  '',
  '| detector | streams | chunks answered | p50 ms | p99 ms | max ms | server CPU (% of one core) | confirmed | withdrawn |',
  '|---|---|---|---|---|---|---|---|---|',
  ...runs.map((r) => `| ${r.detector}${r.flood ? ' + flood' : ''} | ${r.streams} | ${r.answered}/${r.chunks} | ${r.p50_ms} | ${r.p99_ms} | ${r.max_ms} | ${r.server_cpu_percent_of_one_core} | ${r.confirmed} | ${r.withdrawn} |`),
  ...runs
    .filter((r) => r.flood)
    .map((r) => {
      const f = r.flood!;
      return `\nFlood: ${f.answered}/${f.frames} 2-byte frames answered in ${f.answered_in_ms} ms; the ${r.streams} real-time streams' ${f.others_replies} replies meanwhile: p50 ${f.others_p50_ms} ms, p99 ${f.others_p99_ms} ms, max ${f.others_max_ms} ms (the same streams without a flood: p50 ${baseline.p50_ms}, p99 ${baseline.p99_ms})`;
    }),
].join('\n');
mkdirSync('bench/results', { recursive: true });
writeFileSync(join('bench/results', 'detect_load.json'), JSON.stringify({ date: new Date().toISOString(), perChunk, runs }, null, 2));
writeFileSync(join('bench/results', 'detect_load.md'), `${table}\n`);
console.log(table);
process.exit(0);
