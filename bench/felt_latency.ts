/**
 * Felt latency: how long after someone stops talking the client holds text that the final answer
 * keeps. Usage: npm run bench:felt [-- --turns server|detect --detector silero|hybrid
 * --language auto|en|ko --quick --out DIR --label NAME]  (--help for all flags)
 *
 * 1. A deterministic conversation of fixture clips (bench/felt/conversation.ts), true speech bounds known.
 * 2. The floor: the bare engine on each turn's audio, measured first, with nothing else running.
 * 3. The stack as `npm start` runs it, with synthetic models (full encoder compute, known decode length).
 * 4. The conversation played in real time through the microphone client's UtteranceStreamer.
 * 5. Per turn: felt latency, end-of-speech detection delay, wait for the end of turn, queue, decode
 *    vs floor, speculation; summary against the target (p50 ≤ 450 ms, p90 ≤ 700 ms, p50 ≤ floor + 200 ms).
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { SAMPLE_RATE } from '@vtuber-stt/core';
import { benchStart } from './felt/preamble.js';
import { analyse } from './felt/analysis.js';
import { parseArgs } from './felt/args.js';
import { buildConversation } from './felt/conversation.js';
import { floorSettings, IDLE_BEFORE_MS, measureFloor, measureSameInput, type DecodedInput } from './felt/floor.js';
import { feltModels, TOKENS } from './felt/models.js';
import { play } from './felt/player.js';
import { markdown, writeResults } from './felt/report.js';
import { ENERGY_THRESHOLD_DB } from './felt/speech_bounds.js';
import { startStack } from './felt/stack.js';

const QUICK_TURNS = 4;

const { args, log, loadBefore } = benchStart('felt', parseArgs);

const conv = buildConversation(args.quick ? QUICK_TURNS : undefined);
const seconds = conv.samples.length / SAMPLE_RATE;
log(`conversation: ${conv.turns.length} turns, ${seconds.toFixed(1)} s`);
for (const t of conv.turns) {
  log(`  ${t.index}. ${t.language} ${((t.end_ms - t.start_ms) / 1000).toFixed(2)} s @ ${(t.start_ms / 1000).toFixed(2)}-${(t.end_ms / 1000).toFixed(2)} (${t.bounds_from}) ${t.id}: ${t.text}`);
}

const models = feltModels(!args.unpunctuated);
log(`models say, for any audio: "${models.text}"`);
log(`floor: bare @napi-rs/whisper, ${floorSettings().threads} threads, median of ${floorSettings().reps}`);
const floor = measureFloor(models.base, conv, (r) => log(`  turn ${r.turn}: ${r.floor_ms} ms (${r.runs_ms.join(', ')}; ${r.audio_ms} ms audio, ctx ${r.audio_ctx}) "${r.text.slice(0, 40)}..."`));
if (args.plan) process.exit(0);

const env: Record<string, string> = {
  STT_MODEL: models.base,
  STT_TINY_MODEL: models.tiny,
  STT_DETECTOR: args.detector,
  STT_LANGUAGE: args.language,
  ...(args.threads ? { STT_THREADS: String(args.threads) } : {}),
};
log(`starting the stack (${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')})`);
const stack = await startStack(env);
let playback;
try {
  log(`ready on port ${stack.port}; playing ${seconds.toFixed(1)} s in real time (turns=${args.turns}${args.partials ? ', partials on' : ''})`);
  playback = await play(conv, { port: stack.port, turns: args.turns, partials: args.partials });
} finally {
  await stack.stop();
}
if (playback.late_max_ms > 20) log(`warning: a chunk was pushed ${playback.late_max_ms} ms late (p99 ${playback.late_p99_ms} ms): latencies carry that`);

// The floor again, on exactly what the service decoded per turn (its span, context, language).
const finalOf = (seq: number) =>
  playback.receipts.find((r) => r.source === 'server' && r.message.type === 'transcript' && r.message.final !== false && r.message.seq === seq)?.message;
const inputs: DecodedInput[] = [];
for (const row of analyse(conv.turns, playback, floor).rows) {
  const m = row.seqs.length === 1 ? finalOf(row.seqs[0]!) : undefined;
  if (m && Array.isArray(m.decoded_ms) && typeof m.audio_ctx === 'number' && m.audio_ctx > 0) {
    inputs.push({ turn: row.turn, decoded_ms: m.decoded_ms as [number, number], audio_ctx: m.audio_ctx, language: String(m.language) });
  }
}
log(`floor on the same input as the service (${inputs.length} turns, each run after ${IDLE_BEFORE_MS} ms idle, as live)`);
const sameInput = await measureSameInput(models.base, conv, inputs);
for (const r of sameInput) log(`  turn ${r.turn}: ${r.floor_ms} ms after idle (${r.runs_ms.join(', ')}), ${r.hot_ms} ms back to back; ctx ${r.audio_ctx}`);
const floorUsed = floor.map((f) => sameInput.find((x) => x.turn === f.turn) ?? f);
const { rows, summary } = analyse(conv.turns, playback, floorUsed);
const gitCommit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
})();
const settings = {
  date: new Date().toISOString(),
  label: args.label,
  turns: args.turns,
  detector: args.detector,
  language: args.language,
  stack_threads: args.threads ?? 'stack default',
  punctuated: !args.unpunctuated,
  quick: args.quick,
  early: true,
  partials: args.partials,
  partial_messages: playback.receipts.filter((r) => r.message.type === 'partial').length,
  git_commit: gitCommit,
  host: { cores: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', node: process.version, load_1m_before: loadBefore, load_1m_after: loadavg()[0] },
  models: { synthetic: true, tokens: TOKENS, text: models.text, base: models.base, tiny: models.tiny },
  conversation: { turns: conv.turns.length, seconds: Number(seconds.toFixed(2)), noise_dbfs: conv.noise_dbfs, energy_threshold_db: ENERGY_THRESHOLD_DB },
  floor: floorSettings(),
  playback: { chunk_ms: 32, chunks: playback.chunks, late_p99_ms: playback.late_p99_ms, late_max_ms: playback.late_max_ms },
};
const title = `Felt latency: ${args.label} (turns=${args.turns}, detector=${args.detector}, language=${args.language}${args.partials ? ', partials' : ''}, ${conv.turns.length} turns)`;
const md = markdown(title, rows, summary);
// Receipts relative to conversation time 0, so a surprising row can be traced message by message.
const events = playback.receipts.map((r) => ({ t_ms: Math.round((r.at - playback.playStart) * 10) / 10, source: r.source, ...r.message }));
const paths = writeResults(args.out, args.label, { settings, turns: conv.turns, floor_bounds: floor, floor_same_input: sameInput, rows, summary, events }, md);
console.log(md);
log(`wrote ${paths.md} and ${paths.json}`);
process.exit(0);
