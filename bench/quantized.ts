/**
 * Decode time of Whisper base with f16 weights against the quantized q8_0 and q5_1 files
 * whisper.cpp publishes, on this CPU, through the engine the CPU service uses (NapiWhisperEngine,
 * its thread count, encoder sizing and token budget). Models are synthetic (real base shapes, all
 * layers; test/helpers/synthetic_model.ts), so every matrix product runs at full size and the
 * decode length is the same 20 words for each; the words are checked on every run.
 *
 * Usage: flock /tmp/vitest.lock npm run bench:quantized [-- --reps 5] [-- --threads 2] [-- --out bench/results]
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { audioCtxFor, NapiWhisperEngine, parseServiceConfig, type DecodeOptions } from '@vtuber-stt/core';
import { tokenBudgetFor } from '../stt/core/src/engine/token_budget.js';
import { fixtureModel, loadClip } from '../test/helpers/fixtures.js';
import { syntheticModel, syntheticText, type WeightType } from '../test/helpers/synthetic_model.js';

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const REPS = Number(arg('--reps') ?? 5);
const outDir = arg('--out') ?? 'bench/results';
// The CPU service's own settings, from its defaults on this machine (no STT_* from the shell).
const config = parseServiceConfig({ name: 'stt_cpu_ws', port: 0, model: 'base', device: 'cpu' }, ['node', 'bench'], {});
const threads = Number(arg('--threads') ?? config.threads);
const policy = { enabled: config.audioCtx, floor: config.audioCtxFloor, margin: config.audioCtxMargin };

const WEIGHTS: WeightType[] = ['f16', 'q8_0', 'q5_1'];
const SECONDS = [3, 6, 30];
const speech = loadClip('coqui-tts-ljspeech/LONG_LJ001-0001_to_0008_concat.wav');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fixture = fixtureModel('base');
const expected = syntheticText(fixture, 20);

const engines = new Map<WeightType, { engine: NapiWhisperEngine; bytes: number }>();
for (const weights of WEIGHTS) {
  const path = syntheticModel(fixture, 20, { weights });
  engines.set(weights, { engine: await NapiWhisperEngine.load(path, 'cpu'), bytes: statSync(path).size });
}

function input(seconds: number): { pcm: Float32Array; options: DecodeOptions } {
  const pcm = speech.subarray(0, seconds * 16000);
  if (pcm.length < seconds * 16000) throw new Error(`the clip is shorter than ${seconds} s`);
  // As the transcriber sizes a decode (stt/core/src/decode/transcriber.ts engineInput): 30 s is the full window.
  return { pcm, options: { language: 'en', prompt: '', translate: false, threads, audioCtx: audioCtxFor(pcm.length, policy), maxTokens: tokenBudgetFor(pcm.length) } };
}

async function decode(weights: WeightType, seconds: number): Promise<number> {
  const { pcm, options } = input(seconds);
  const t = performance.now();
  const out = await engines.get(weights)!.engine.transcribe(pcm, options);
  const ms = performance.now() - t;
  if (out.text.trim() !== expected) throw new Error(`${weights} said "${out.text}", not "${expected}"`);
  return ms;
}

// One warm-up each, then repetitions interleaved across the models so drift hits them alike.
for (const weights of WEIGHTS) await decode(weights, 3);
const times = new Map<string, number[]>();
for (let r = 0; r < REPS; r++) {
  for (const seconds of SECONDS) {
    for (const weights of WEIGHTS) {
      const key = `${weights}/${seconds}`;
      times.set(key, [...(times.get(key) ?? []), await decode(weights, seconds)]);
    }
  }
}

interface Row {
  weights: WeightType;
  seconds: number;
  audio_ctx: number;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  vs_f16: number;
}
const rows: Row[] = [];
for (const seconds of SECONDS) {
  for (const weights of WEIGHTS) {
    const xs = times.get(`${weights}/${seconds}`)!;
    const f16 = median(times.get(`f16/${seconds}`)!);
    rows.push({ weights, seconds, audio_ctx: input(seconds).options.audioCtx || 1500, median_ms: Math.round(median(xs)), min_ms: Math.round(Math.min(...xs)), max_ms: Math.round(Math.max(...xs)), vs_f16: Number((median(xs) / f16).toFixed(2)) });
  }
}
for (const { engine } of engines.values()) await engine.close();

const sizes = WEIGHTS.map((w) => `${w} ${(engines.get(w)!.bytes / 2 ** 20).toFixed(0)} MiB`).join(', ');
const table = [
  `base, ${threads} thread(s), ${REPS} repetitions (median; min-max), synthetic files: ${sizes}`,
  '',
  '| weights | audio s | audio_ctx | median ms | min-max ms | vs f16 |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.weights} | ${r.seconds} | ${r.audio_ctx} | ${r.median_ms} | ${r.min_ms}-${r.max_ms} | ${r.vs_f16} |`),
].join('\n');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'quantized.json'), JSON.stringify({ date: new Date().toISOString(), threads, reps: REPS, rows }, null, 2));
writeFileSync(join(outDir, 'quantized.md'), `${table}\n`);
console.log(table);
process.exit(0);
