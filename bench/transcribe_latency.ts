/**
 * Flush-to-final latency of /ws/transcribe against the bare binding on the same input, same run.
 * Usage: npm run bench [-- --quick] [-- --out bench/results]
 *
 * "ours": a real WebSocket client streams the clip to the real service (in this process, so its
 * event loop can be watched), sends <flush> and times until the transcript arrives.
 * "bare": @napi-rs/whisper's full() called directly with the same samples, threads, language and
 * audio_ctx. Models are synthetic (test/helpers/synthetic_model.ts): real tiny/base shapes, so the
 * encoder computes in full, with a decoder built to emit exactly 20 tokens then end-of-text.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Whisper, WhisperFullParams, WhisperSamplingStrategy } from '@napi-rs/whisper';
import { audioCtxFor, encodeS16le, type RunningService } from '@vtuber-stt/core';
import { fixtureModel, loadClip } from '../test/helpers/fixtures.js';
import { startTestService } from '../test/helpers/service.js';
import { syntheticModel } from '../test/helpers/synthetic_model.js';
import { TestClient } from '../test/helpers/ws_client.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outDir = args[args.indexOf('--out') + 1] && args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'bench/results';
const REPS = quick ? 1 : 3;
const DURATIONS = quick ? [2, 5] : [2, 5, 10, 20];
const MODELS = ['tiny', 'base'] as const;
const THREADS = quick ? [2] : [1, 2];
const CTX = [true, false];

const speech = loadClip('coqui-tts-ljspeech/LONG_LJ001-0001_to_0008_concat.wav');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  model: string;
  threads: number;
  audio_ctx: 'sized' | 'padded';
  seconds: number;
  ctx: number;
  ours_ms: number;
  bare_ms: number;
  ratio: number;
  max_loop_stall_ms: number;
}

function bare(whisper: Whisper, pcm: Float32Array, threads: number, ctx: number): number {
  const p = new WhisperFullParams(WhisperSamplingStrategy.Greedy);
  p.nThreads = threads;
  p.audioCtx = ctx;
  p.language = 'en';
  p.noContext = true;
  p.suppressNonSpeechTokens = true;
  p.printProgress = false;
  const t = performance.now();
  whisper.full(p, pcm);
  return performance.now() - t;
}

const rows: Row[] = [];
for (const model of MODELS) {
  const modelPath = syntheticModel(fixtureModel(model), 20);
  const whisper = new Whisper(modelPath);
  for (const threads of THREADS) {
    for (const sized of CTX) {
      const service: RunningService & { ws: string } = await startTestService(
        { threads, language: 'en', audioCtx: sized, model: modelPath },
        {},
      );
      for (const seconds of DURATIONS) {
        const pcm = speech.subarray(0, seconds * 16000);
        const wire = encodeS16le(pcm);
        const ctx = audioCtxFor(pcm.length, { enabled: sized, floor: 128 });
        const ours: number[] = [];
        const bares: number[] = [];
        let stall = 0;
        for (let r = 0; r < REPS; r++) {
          const c = await TestClient.connect(service.ws);
          c.sendAudio(wire);
          await new Promise((res) => setTimeout(res, 100)); // audio arrives before the flush, as when streaming live
          const loop = monitorEventLoopDelay({ resolution: 1 });
          loop.enable();
          const t = performance.now();
          c.flush();
          const reply = await c.next<{ type: string; text?: string }>(120_000);
          ours.push(performance.now() - t);
          loop.disable();
          stall = Math.max(stall, loop.max / 1e6);
          if (reply.type !== 'transcript' || !reply.text) throw new Error(`bench: server answered ${JSON.stringify(reply)}`);
          await c.close();
          bares.push(bare(whisper, pcm, threads, ctx));
        }
        const row: Row = {
          model,
          threads,
          audio_ctx: sized ? 'sized' : 'padded',
          seconds,
          ctx,
          ours_ms: Math.round(median(ours)),
          bare_ms: Math.round(median(bares)),
          ratio: Number((median(ours) / median(bares)).toFixed(2)),
          max_loop_stall_ms: Number(stall.toFixed(1)),
        };
        rows.push(row);
        console.error(JSON.stringify(row));
      }
      await service.close();
    }
  }
}

const table = [
  '| model | threads | audio_ctx | audio s | ctx | ours ms | bare ms | ours/bare | max loop stall ms |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.model} | ${r.threads} | ${r.audio_ctx} | ${r.seconds} | ${r.ctx || 1500} | ${r.ours_ms} | ${r.bare_ms} | ${r.ratio} | ${r.max_loop_stall_ms} |`),
].join('\n');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'transcribe_latency.json'), JSON.stringify({ date: new Date().toISOString(), reps: REPS, rows }, null, 2));
writeFileSync(join(outDir, 'transcribe_latency.md'), `${table}\n`);
console.log(table);
process.exit(0);
