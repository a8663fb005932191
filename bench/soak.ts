/**
 * Soak: the stack as `npm start` runs it, through the proxy, for a long time. Four connections
 * hold a real-time conversation (each turn's audio in 32 ms chunks at the speed of speech, then
 * `<flush>`, then a pause), and a fifth connects, speaks a little and leaves, again and again.
 * Every minute: the RSS of every process of the stack, each Node service's V8 heap (used and
 * committed) and external memory (so what RSS gains beyond them is native), the engine's busy
 * fraction and the capacity it reports (the load is at capacity when its sessions reach it),
 * p50/p95 flush-to-text, errors.
 * Usage: npm run bench:soak [-- --minutes 30 --connections 4]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeS16le, SAMPLE_RATE } from '@vtuber-stt/core';
import WebSocket from 'ws';
import { percentile } from './felt/analysis.js';
import { buildConversation } from './felt/conversation.js';
import { feltModels } from './felt/models.js';
import { startStack } from './felt/stack.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const MINUTES = arg('minutes', 30);
const CONNECTIONS = arg('connections', 4);
const CHUNK = 512; // 32 ms
const log = (line: string) => console.error(`[soak] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => percentile(xs, p) ?? NaN;

const conv = buildConversation();
const turns = conv.turns.map((t) => {
  // Each turn with a little of the room around it, as a push-to-talk client would send it.
  const from = Math.max(0, Math.round(((t.start_ms - 200) / 1000) * SAMPLE_RATE));
  const to = Math.min(conv.samples.length, Math.round(((t.end_ms + 300) / 1000) * SAMPLE_RATE));
  return encodeS16le(conv.samples.subarray(from, to));
});
const models = feltModels(true);
const stack = await startStack({ STT_MODEL: models.base, STT_TINY_MODEL: models.tiny, STT_LANGUAGE: 'auto' });
const url = `ws://127.0.0.1:${stack.port}/ws/transcribe`;
log(`stack ready on port ${stack.port}; ${CONNECTIONS} conversations + churn for ${MINUTES} min`);

interface Minute {
  minute: number;
  rss_mib: Record<string, number>;
  /** V8 heap in use per Node service (its /metrics): growth here is JavaScript's, the rest of RSS native. */
  heap_mib: Record<string, number>;
  /** What V8 holds from the system for its heap (committed), and ArrayBuffers' memory outside it (malloc'd), per Node service. */
  heap_total_mib: Record<string, number>;
  external_mib: Record<string, number>;
  /** stt_cpu_ws's engine busy fraction and the sessions it says it carries (stt_capacity_sessions): the load is at capacity when its sessions reach it. */
  engine_busy: number;
  capacity: number;
  flushes: number;
  p50_ms: number;
  p95_ms: number;
  errors: number;
  churned: number;
}
const latencies: number[] = [];
const errors: string[] = [];
let minuteErrors = 0;
let churned = 0;
const started = performance.now();
const endAt = started + MINUTES * 60_000;
const running = () => performance.now() < endAt;

const rss = () => stack.rss();

/** A Node service's memory as its /metrics reports it (MiB): V8 heap used and committed, and external (ArrayBuffers). */
async function nodeMemory(port: number): Promise<{ used: number; total: number; external: number; busy: number; capacity: number }> {
  const value = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+]+)`, 'm').exec(text)?.[1] ?? NaN);
  const mib = (text: string, name: string) => Math.round(value(text, name) / 1024 / 1024);
  try {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) }).then((r) => r.text());
    return {
      used: mib(text, 'nodejs_heap_size_used_bytes'),
      total: mib(text, 'nodejs_heap_size_total_bytes'),
      external: mib(text, 'nodejs_external_memory_bytes'),
      busy: Number(value(text, 'stt_engine_busy_ratio').toFixed(2)),
      capacity: value(text, 'stt_capacity_sessions'),
    };
  } catch {
    return { used: NaN, total: NaN, external: NaN, busy: NaN, capacity: NaN };
  }
}

function fail(what: string): void {
  errors.push(`${((performance.now() - started) / 60_000).toFixed(1)} min: ${what}`);
  minuteErrors++;
  log(`error: ${what}`);
}

/** One conversation: turn after turn in real time, each flushed and answered before the pause. */
async function converse(k: number): Promise<void> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let waiting: ((text: string) => void) | undefined;
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as { type: string; text?: string; error?: string };
    if (m.type === 'error') fail(`conversation ${k}: ${m.error}`);
    if (m.type === 'transcript' || m.type === 'error') waiting?.(m.text ?? '');
  });
  ws.on('close', (code, reason) => {
    if (running()) fail(`conversation ${k} closed ${code} ${reason.toString()}`);
  });
  // Staggered, so the four do not speak in lockstep.
  await sleep(k * 1700);
  for (let t = k; running(); t++) {
    const pcm = turns[t % turns.length]!;
    const begin = performance.now();
    for (let i = 0, n = 0; i < pcm.length; i += CHUNK * 2, n++) {
      const due = begin + n * 32;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      ws.send(pcm.subarray(i, i + CHUNK * 2));
    }
    const answered = new Promise<string>((resolve) => (waiting = resolve));
    const flushedAt = performance.now();
    ws.send('<flush>');
    const text = await Promise.race([answered, sleep(30_000).then(() => undefined)]);
    if (text === undefined) fail(`conversation ${k}: no answer to a flush within 30 s`);
    else {
      latencies.push(performance.now() - flushedAt);
      if (!text) fail(`conversation ${k}: empty transcript`);
    }
    await sleep(800 + ((t * 397) % 1200)); // the other side of the conversation
  }
  ws.close();
}

/** The fifth connection: connect, speak a second, flush or not, leave; over and over. */
async function churn(): Promise<void> {
  const pcm = turns[0]!.subarray(0, SAMPLE_RATE * 2);
  for (let i = 0; running(); i++) {
    const ws = new WebSocket(url);
    try {
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString()) as { type: string; error?: string };
        if (m.type === 'error') fail(`churn: ${m.error}`);
      });
      for (let o = 0; o < pcm.length; o += CHUNK * 2) ws.send(pcm.subarray(o, o + CHUNK * 2));
      if (i % 2 === 0) ws.send('<flush>'); // half leave with a flush in flight, half without
      await sleep(300);
      ws.close();
      churned++;
    } catch (error) {
      fail(`churn: ${(error as Error).message}`);
    }
    await sleep(1000);
  }
}

const minutes: Minute[] = [];
const sampler = (async () => {
  let from = 0;
  for (let m = 1; m <= MINUTES; m++) {
    await sleep(started + m * 60_000 - performance.now());
    const window = latencies.slice(from);
    from = latencies.length;
    const cpu = await nodeMemory(stack.cpuPort);
    const proxy = await nodeMemory(stack.port);
    const row: Minute = {
      minute: m,
      rss_mib: rss(),
      heap_mib: { stt_cpu_ws: cpu.used, stt_proxy: proxy.used },
      heap_total_mib: { stt_cpu_ws: cpu.total, stt_proxy: proxy.total },
      external_mib: { stt_cpu_ws: cpu.external, stt_proxy: proxy.external },
      engine_busy: cpu.busy,
      capacity: cpu.capacity,
      flushes: window.length, p50_ms: Math.round(pct(window, 50)), p95_ms: Math.round(pct(window, 95)), errors: minuteErrors, churned };
    minuteErrors = 0;
    churned = 0;
    minutes.push(row);
    log(JSON.stringify(row));
  }
})();

try {
  await Promise.all([...Array.from({ length: CONNECTIONS }, (_, k) => converse(k)), churn(), sampler]);
} finally {
  await stack.stop();
}

// Growth after the warm-up, per process: the median of minutes 5-9 (in a short run, from its
// middle) against the median of as many last minutes, the two windows apart. One minute's RSS
// swings by 1-2 % with what is in flight, so single minutes would make the figure a draw.
const warmFrom = Math.min(4, Math.floor((minutes.length - 1) / 2));
const size = Math.min(5, Math.floor((minutes.length - warmFrom) / 2));
const warmWindow = minutes.slice(warmFrom, warmFrom + size);
const lastWindow = minutes.slice(minutes.length - size);
const last = minutes.at(-1)!;
/** NaN (a run too short for two windows, or no sample) prints as null in the JSON. */
const medianOf = (window: Minute[], pick: (m: Minute) => number | undefined) => pct(window.map(pick).filter((v): v is number => Number.isFinite(v)), 50);
const growthOf = (pick: (m: Minute) => number | undefined) => {
  const [before, after] = [medianOf(warmWindow, pick), medianOf(lastWindow, pick)];
  return Number((((after - before) / (before || 1)) * 100).toFixed(1));
};
const growth = Object.fromEntries(Object.keys(last.rss_mib).map((name) => [name, growthOf((m) => m.rss_mib[name])]));
/** V8's committed heap over the same windows, in MiB: the part of a Node service's RSS growth that is JavaScript's heap. */
const heapGrowthMib = Object.fromEntries(Object.keys(last.heap_total_mib).map((name) => [name, medianOf(lastWindow, (m) => m.heap_total_mib[name]) - medianOf(warmWindow, (m) => m.heap_total_mib[name])]));
const windows = size ? `median of minutes ${warmWindow[0]!.minute}-${warmWindow.at(-1)!.minute} against ${lastWindow[0]!.minute}-${last.minute}` : 'too short a run for two windows';
const half = Math.floor(minutes.length / 2);
const early = minutes.slice(Math.min(5, half), Math.max(Math.min(10, minutes.length), half + 1)).map((m) => m.p50_ms);
const late = minutes.slice(-5).map((m) => m.p50_ms);
const summary = {
  date: new Date().toISOString(),
  minutes: MINUTES,
  connections: CONNECTIONS,
  flushes: latencies.length,
  p50_ms: Math.round(pct(latencies, 50)),
  p95_ms: Math.round(pct(latencies, 95)),
  errors: errors.length,
  rss_growth_after_warmup_percent: growth,
  v8_committed_growth_mib: heapGrowthMib,
  growth_windows: windows,
  p50_early_vs_late_ms: [Math.round(pct(early, 50)), Math.round(pct(late, 50))],
};
const services = Object.keys(last.rss_mib);
const table = [
  `Soak: ${MINUTES} min, ${CONNECTIONS} real-time conversations through the proxy + churn; ${summary.flushes} flushes, p50 ${summary.p50_ms} ms, p95 ${summary.p95_ms} ms, ${summary.errors} errors`,
  `RSS growth (${windows}): ${services.map((s) => `${s} ${growth[s]}%`).join(', ')}; of it V8's committed heap: ${Object.entries(heapGrowthMib).map(([s, mib]) => `${s} ${mib} MiB`).join(', ')}; p50 minutes ${early.length ? '5-10' : '-'} vs last 5: ${summary.p50_early_vs_late_ms.join(' vs ')} ms`,
  '',
  `| minute | ${services.map((s) => `${s} MiB`).join(' | ')} | heap used / committed / external MiB: cpu_ws; proxy | engine busy, capacity | flushes | p50 ms | p95 ms | errors | churned |`,
  `|---|${services.map(() => '---').join('|')}|---|---|---|---|---|---|---|`,
  ...minutes.map((m) => `| ${m.minute} | ${services.map((s) => m.rss_mib[s] ?? '-').join(' | ')} | ${['stt_cpu_ws', 'stt_proxy'].map((s) => `${m.heap_mib[s]} / ${m.heap_total_mib[s]} / ${m.external_mib[s]}`).join('; ')} | ${m.engine_busy}, ${m.capacity} | ${m.flushes} | ${m.p50_ms} | ${m.p95_ms} | ${m.errors} | ${m.churned} |`),
  ...(errors.length ? ['', 'Errors:', ...errors.slice(0, 20).map((e) => `- ${e}`)] : []),
].join('\n');
mkdirSync('bench/results', { recursive: true });
writeFileSync(join('bench/results', 'soak.json'), JSON.stringify({ summary, minutes, errors }, null, 2));
writeFileSync(join('bench/results', 'soak.md'), `${table}\n`);
console.log(table);
process.exit(errors.length ? 1 : 0);
