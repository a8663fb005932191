/**
 * Echo bench: the VTuber's own voice in the streamer's microphone (issue 20 item 4).
 * Usage: npm run bench:echo [-- --out DIR] [-- --service [--speed N]]
 *
 * 1. A conversation of 10 VTuber lines (espeak-ng through a room: -12 dB, reverb, 60 ms delay)
 *    and 10 real streamer turns, half barging in (bench/echo/conversation.ts).
 * 2. The microphone through Silero as the service runs it: raw, through speexdsp alone, and
 *    through the canceller as shipped (speexdsp + residual gate), the reference streamed live
 *    just ahead of the mic in 20 ms chunks (and in 100 ms chunks: a reference placed up to
 *    100 ms off its true time, differently for each line).
 * 3. Per variant: false speech starts (in the echo), missed streamer turns, the streamer's
 *    detection delay on the audio clock (speech_start announced minus true onset), p50/p90.
 * 4. The canceller's CPU cost per stream: the conversation, a VTuber talking non-stop, and an
 *    idle stream (no reference).
 * 5. With --service: the same conversation through a real service over WebSocket (reference as
 *    `assistant_audio`, paced at N x real time, default 4): echo transcripts, missed streamer
 *    turns, and how soon `interruption` follows the streamer's detected start (bench/echo/service.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { createEchoCanceller, DEFAULT_ECHO_OPTIONS, SAMPLE_RATE, SileroModel, type EchoOptions } from '@vtuber-stt/core';
import { cancelLive, mixInto, noiseFloor, streamerClip, vtuberLine, type Playback } from '../test/helpers/echo_scene.js';
import { analyse, speechStarts, type Analysis } from './echo/analysis.js';
import { buildConversation } from './echo/conversation.js';
import { measureCost, type Cost } from './echo/cost.js';
import { runThroughService, type ServiceResult } from './echo/service.js';

const flag = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const outDir = flag('--out') ?? 'bench/results';
const viaService = process.argv.includes('--service');
const speed = Number(flag('--speed') ?? 4);
const log = (line: string) => console.error(`[echo] ${line}`);

const conv = buildConversation();
const seconds = conv.mic.length / SAMPLE_RATE;
log(`conversation: ${conv.lines.length} VTuber lines, ${conv.turns.length} streamer turns, ${seconds.toFixed(1)} s`);
for (const [i, t] of conv.turns.entries()) {
  const l = conv.lines[i]!;
  log(`  ${i + 1}. VTuber ${(l.start_ms / 1000).toFixed(2)}-${(l.end_ms / 1000).toFixed(2)} "${l.text}"`);
  log(`     streamer ${(t.start_ms / 1000).toFixed(2)}-${(t.end_ms / 1000).toFixed(2)} ${t.clip}${t.barge_in ? ' (barge-in)' : ''}${t.gain_db ? ` (${t.gain_db} dB)` : ''}`);
}

const model = await SileroModel.load();
// Each streamer clip heard alone, at its level: where Silero finds it without any echo.
const cleanMs = await Promise.all(
  conv.turns.map(async (t) => {
    const gain = 10 ** (t.gain_db / 20);
    const [first] = await speechStarts(model, streamerClip(t.clip).samples.map((s) => s * gain));
    return first ? first.confirmed_ms : null;
  }),
);
const variants: { name: string; options?: EchoOptions; chunk?: number }[] = [
  { name: 'raw microphone (no canceller)' },
  { name: 'speexdsp alone (gate off)', options: { gate: false } },
  { name: 'canceller, reference and mic in 100 ms chunks', options: {}, chunk: 1600 },
  { name: 'canceller as shipped (speexdsp + residual gate)', options: {} },
];
const results: { name: string; analysis: Analysis }[] = [];
for (const v of variants) {
  let audio = conv.mic;
  if (v.options) {
    const ec = createEchoCanceller(v.options);
    audio = cancelLive(ec, conv.mic, conv.playbacks, v.chunk ?? 320);
    ec.close();
  }
  const analysis = analyse(conv, await speechStarts(model, audio), cleanMs);
  results.push({ name: v.name, analysis });
  log(`${v.name}: false starts ${analysis.false_starts} (in echo ${analysis.false_starts_in_echo}), missed ${analysis.missed}, delay p50 ${analysis.delay_p50_ms} p90 ${analysis.delay_p90_ms} ms, added p50 ${analysis.added_p50_ms} p90 ${analysis.added_p90_ms} ms`);
}
await model.release();

// A VTuber that never stops: every line back to back, the reference always playing.
const nonStop = (() => {
  const playbacks: Playback[] = [];
  const echoes: { at: number; echo: Float32Array }[] = [];
  let at = 0;
  for (const l of conv.lines) {
    const line = vtuberLine(l.text);
    playbacks.push({ start: at, pcm: line.reference });
    echoes.push({ at, echo: line.echo });
    at += line.reference.length;
  }
  const mic = noiseFloor(at + 8000);
  for (const e of echoes) mixInto(mic, e.echo, e.at);
  return { mic, playbacks };
})();
const costs: { name: string; cost: Cost }[] = [
  { name: 'the conversation', cost: measureCost(conv.mic, conv.playbacks) },
  { name: 'VTuber talking non-stop', cost: measureCost(nonStop.mic, nonStop.playbacks) },
  { name: 'idle (no reference)', cost: measureCost(conv.mic, []) },
];
for (const c of costs) log(`cost, ${c.name}: ${c.cost.ms_per_audio_s} ms per s of audio (${c.cost.x_realtime}x real time)`);

let service: ServiceResult | undefined;
if (viaService) {
  log(`through a real service over WebSocket at ${speed}x real time...`);
  service = await runThroughService(conv, speed, log);
  log(`service: echo transcripts ${service.echo_transcripts}, missed ${service.missed}, interruptions ${service.barge_ins_interrupted}/${conv.turns.filter((t) => t.barge_in).length}`);
}

const shipped = results.at(-1)!.analysis;
const md = [
  `### Echo bench (\`npm run bench:echo\`)`,
  '',
  `${conv.lines.length} VTuber lines, ${conv.turns.length} streamer turns (${conv.turns.filter((t) => t.barge_in).length} barging in), ${seconds.toFixed(1)} s; ` +
    `${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}.`,
  '',
  '| microphone as Silero hears it | false speech starts | in the echo | missed streamer turns | detection delay p50 | p90 | max | added to the clean clip\'s p50 / p90 |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map(
    ({ name, analysis: a }) =>
      `| ${name} | ${a.false_starts} | ${a.false_starts_in_echo} | ${a.missed}/${a.turns.length} | ${a.delay_p50_ms ?? '-'} ms | ${a.delay_p90_ms ?? '-'} ms | ${a.delay_max_ms ?? '-'} ms | ${a.added_p50_ms ?? '-'} / ${a.added_p90_ms ?? '-'} ms |`,
  ),
  '',
  'Per streamer turn (canceller as shipped): detection delay = speech_start announced on the audio clock minus the true onset ' +
    '(energy, -35 dB from the clip\'s peak); added = minus when Silero announces the clip heard alone.',
  '',
  '| # | clip | barge-in | level | onset s | delay ms | added ms |',
  '|---|---|---|---|---|---|---|',
  ...shipped.turns.map((t) => `| ${t.index} | ${t.clip} | ${t.barge_in ? 'yes' : 'no'} | ${t.gain_db} dB | ${(t.start_ms / 1000).toFixed(2)} | ${t.delay_ms ?? 'missed'} | ${t.added_ms ?? '-'} |`),
  '',
  '| canceller CPU, one stream | audio | ms per s of audio | x real time |',
  '|---|---|---|---|',
  ...costs.map((c) => `| ${c.name} | ${c.cost.audio_s} s | ${c.cost.ms_per_audio_s} | ${c.cost.x_realtime}x |`),
  '',
  ...(service
    ? [
        `Through a real service over WebSocket (\`--service\`, ${speed}x real time, reference as \`assistant_audio\`, synthetic model):`,
        '',
        '| finals (dropped) | echo transcripts | missed streamer turns | barge-ins interrupted | interruption after detected start p50 / p90 | after true onset p50 / p90 | service errors |',
        '|---|---|---|---|---|---|---|',
        `| ${service.finals.length} (${service.finals.filter((f) => f.dropped).length}) | ${service.echo_transcripts} | ${service.missed}/${conv.turns.length} | ${service.barge_ins_interrupted}/${conv.turns.filter((t) => t.barge_in).length} | ` +
          `${service.interruption_after_start_p50_ms ?? '-'} / ${service.interruption_after_start_p90_ms ?? '-'} ms | ${service.interruption_after_onset_p50_ms ?? '-'} / ${service.interruption_after_onset_p90_ms ?? '-'} ms | ${service.errors.length} |`,
        '',
      ]
    : ['Not run through a service (`-- --service` does).', '']),
  `Parameters: ${JSON.stringify(DEFAULT_ECHO_OPTIONS)}`,
].join('\n');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'echo.md'), `${md}\n`);
writeFileSync(join(outDir, 'echo.json'), `${JSON.stringify({ conversation: { lines: conv.lines, turns: conv.turns, seconds }, results, costs, service: service ?? null, parameters: DEFAULT_ECHO_OPTIONS }, null, 2)}\n`);
console.log(md);
log(`wrote ${join(outDir, 'echo.md')} and echo.json`);
