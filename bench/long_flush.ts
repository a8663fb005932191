/**
 * One long flush beside a short one: 120 s of speech flushed at once on one connection while a
 * second connection flushes a short utterance every 2 s, against the real stt_cpu_ws process
 * (synthetic base model). Reports the service's RSS before, at its peak (sampled every 100 ms) and
 * after, the long flush's time, and the short flushes' latency while it was decoding.
 * Usage: npm run bench:long [-- --seconds 120]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeS16le } from '@vtuber-stt/core';
import { fixtureModel, loadClip } from '../test/helpers/fixtures.js';
import { spawnService } from '../test/helpers/processes.js';
import { syntheticModel } from '../test/helpers/synthetic_model.js';
import { TestClient } from '../test/helpers/ws_client.js';

const i = process.argv.indexOf('--seconds');
const SECONDS = i > 0 ? Number(process.argv[i + 1]) : 120;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMiB = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

const service = await spawnService('stt/cpu_ws/src/main.ts', { STT_MODEL: syntheticModel(fixtureModel('base'), 20), STT_MAX_BUFFER_SECONDS: String(Math.max(120, SECONDS)) });
const pid = service.child.pid!;
const ws = service.url.replace('http', 'ws') + '/ws/transcribe';
const clip = loadClip('coqui-tts-ljspeech/LONG_LJ001-0001_to_0008_concat.wav');
const long = new Float32Array(SECONDS * 16000);
for (let o = 0; o < long.length; o += clip.length) long.set(clip.subarray(0, Math.min(clip.length, long.length - o)), o);
const short = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));

const a = await TestClient.connect(ws);
const b = await TestClient.connect(ws);
// Warm: one short flush first, so the baseline holds the engine's buffers.
b.sendAudio(short);
b.flush();
await b.next(60_000);
const before = rssMiB(pid);
let peak = before;
const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);

a.sendAudio(encodeS16le(long), 256 * 1024);
const began = performance.now();
a.flush();
let longDone = false;
const longReply = a.next<{ inference_ms: number; text: string }>(600_000).then((r) => {
  longDone = true;
  return { ...r, wall_ms: Math.round(performance.now() - began) };
});
const shortLatencies: number[] = [];
/** Where each short flush's time went: waiting for the engine, and its own decode. */
const shortReplies: { queue_ms: number; inference_ms: number }[] = [];
while (!longDone) {
  await sleep(2000);
  if (longDone) break;
  b.sendAudio(short);
  const t = performance.now();
  b.flush();
  const reply = await b.next<{ queue_ms: number; inference_ms: number }>(600_000);
  shortReplies.push({ queue_ms: reply.queue_ms, inference_ms: reply.inference_ms });
  shortLatencies.push(Math.round(performance.now() - t));
}
const result = await longReply;
await sleep(1000);
clearInterval(sampler);
const after = rssMiB(pid);
// All the engine did meanwhile, the long flush's own decode and any speculation its pauses started.
const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
const engineSeconds = Number(/stt_inference_seconds_sum\{[^}]*\} ([\d.e+-]+)/.exec(metrics)?.[1] ?? NaN);
const wasted = Number(/stt_speculative_wasted_seconds_total\{[^}]*\} ([\d.e+-]+)/.exec(metrics)?.[1] ?? 0);
const speculation = [...metrics.matchAll(/stt_speculative_total\{outcome="(\w+)"[^}]*\} (\d+)/g)].map((m) => `${m[1]} ${m[2]}`).join(', ');
await Promise.all([a.close(), b.close()]);
await service.stop();

const summary = {
  date: new Date().toISOString(),
  seconds: SECONDS,
  long_flush_ms: result.wall_ms,
  long_inference_ms: result.inference_ms,
  short_flushes_meanwhile_ms: shortLatencies,
  short_flushes_queue_and_inference_ms: shortReplies,
  rss_mib: { before, peak, after },
  engine_seconds_total: engineSeconds,
  speculative: speculation,
  speculative_wasted_seconds: wasted,
};
const line = `${SECONDS} s flush: answered in ${summary.long_flush_ms} ms (engine ${summary.long_inference_ms} ms); short flushes meanwhile: ${shortLatencies.join(', ') || 'none'} ms (queue + own decode: ${shortReplies.map((r) => `${r.queue_ms}+${r.inference_ms}`).join(', ')}); stt_cpu_ws RSS ${before} -> peak ${peak} -> ${after} MiB; engine busy ${engineSeconds.toFixed(1)} s in all; speculative decodes: ${speculation || 'none'} (${wasted.toFixed(1)} s of engine time unused)`;
mkdirSync('bench/results', { recursive: true });
writeFileSync(join('bench/results', 'long_flush.json'), JSON.stringify(summary, null, 2));
console.log(line);
process.exit(0);
