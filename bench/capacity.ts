/**
 * Capacity: how many streamers one stack carries with finals within 1 s of the end of speech.
 * Usage: npm run bench:capacity [-- --n 1,2,4 --seconds 30 --quick --max-busy 0.9 --no-overload
 * --no-cli --full --out DIR --label NAME]  (--help for all flags)
 *
 * Per N (a fresh stack each, as `npm start` runs it, synthetic base/tiny models with real shapes):
 * N streams of bench:felt's conversation (12 utterances, English and Korean, with pauses) played in
 * real time through the microphone client's own code (UtteranceStreamer, server turns, early text),
 * all from this one process, the k-th started 1.7-2.7 s after the one before; each plays until all
 * N have played one whole conversation together (bench/capacity/schedule.ts). Measured over the
 * utterances that end in that window: early-text and final latency after the true end of speech,
 * queue wait; the engine's busy fraction (its /metrics, sampled), work shed by kind, sessions
 * refused at capacity, utterances lost (an utterance the service started and never answered, or a
 * spoken turn no final covers: must be 0). The capacity is the largest N whose final p90 is within
 * 1 s with every stream admitted and nothing lost (and every smaller N the same); then one run at 2x
 * that offered load: the admitted streams' final p90 against the capacity's, lost, refused. Last,
 * what one stream costs as its own CLI process against one stream inside this process.
 * Writes bench/results/<label>.json, .md and .svg (latency against N).
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SAMPLE_RATE } from '@vtuber-stt/core';
import { latencyChart } from './capacity/chart.js';
import { measureCliCost, type CliCost } from './capacity/cli_cost.js';
import { byLabel, sampleBusy, scrape } from './capacity/metrics.js';
import { inWindow, planStreams, type StreamPlan } from './capacity/schedule.js';
import { analyse, percentile } from './felt/analysis.js';
import { buildConversation, type Conversation } from './felt/conversation.js';
import { feltModels } from './felt/models.js';
import { CHUNK_MS, play, type Playback } from './felt/player.js';
import { benchStart } from './felt/preamble.js';
import { startStack } from './felt/stack.js';

const TARGET_MS = 1000;
const DEFAULT_N = [1, 2, 4, 8, 12, 16, 24, 32];
const TURNS = 12;
const QUICK_TURNS = 4;
/** After its input ends, a stream's last answers may take this long before it is closed and they count as lost. */
const FINISH_TIMEOUT_MS = 60_000;

const USAGE = `usage: npm run bench:capacity -- [--n 1,2,4,...] [--seconds S] [--quick] [--max-busy F] [--no-overload] [--no-cli] [--full] [--out DIR] [--label NAME]
  --n            stream counts to run, each on a fresh stack (default ${DEFAULT_N.join(',')})
  --seconds      a shorter conversation: the first turns that fit in S seconds (default: ${TURNS} turns, about 61 s)
  --quick        --n 1,2 and the first ${QUICK_TURNS} turns (about 19 s): a smoke run of every phase
  --max-busy     STT_MAX_BUSY for the stack (admission control; 1 turns refusals off to see the raw knee)
  --no-overload  skip the run at 2x the capacity
  --no-cli       skip measuring one stream as its own CLI process
  --full         run every --n (by default the sweep stops at the second N past the 1 s target: the knee is behind)
  --out          where <label>.json, .md and .svg go (default bench/results)
  --label        file name and title (default capacity)`;

interface Args {
  n: number[];
  turns: number;
  seconds?: number;
  maxBusy?: number;
  overload: boolean;
  cli: boolean;
  full: boolean;
  out: string;
  label: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { n: DEFAULT_N, turns: TURNS, overload: true, cli: true, full: false, out: 'bench/results', label: 'capacity' };
  let nGiven = false;
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    if (flag === '--n') {
      const list = value().split(',').map(Number);
      if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--n must be a comma-separated list of whole numbers >= 1\n${USAGE}`);
      a.n = [...new Set(list)].sort((x, y) => x - y);
      nGiven = true;
    } else if (flag === '--seconds') {
      const s = Number(value());
      if (!(s >= 5)) throw new Error(`--seconds must be at least 5\n${USAGE}`);
      a.seconds = s;
    } else if (flag === '--max-busy') {
      const f = Number(value());
      if (!(f > 0 && f <= 1)) throw new Error(`--max-busy must be in (0, 1]\n${USAGE}`);
      a.maxBusy = f;
    } else if (flag === '--quick') quick = true;
    else if (flag === '--no-overload') a.overload = false;
    else if (flag === '--no-cli') a.cli = false;
    else if (flag === '--full') a.full = true;
    else if (flag === '--out') a.out = value();
    else if (flag === '--label') a.label = value();
    else if (flag === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${flag}\n${USAGE}`);
  }
  if (quick) {
    a.turns = QUICK_TURNS;
    if (!nGiven) a.n = [1, 2];
  }
  return a;
}

const { args, log, loadBefore } = benchStart('capacity', parseArgs);

/** The conversation: `--seconds` keeps the first turns that end (with the tail) within it. */
function conversation(): Conversation {
  if (args.seconds === undefined) return buildConversation(args.turns);
  let fit = 1;
  for (let t = 2; t <= TURNS; t++) if (buildConversation(t).samples.length / SAMPLE_RATE <= args.seconds) fit = t;
  return buildConversation(fit);
}

const conv = conversation();
const convSeconds = conv.samples.length / SAMPLE_RATE;
const models = feltModels(true);
const env: Record<string, string> = {
  STT_MODEL: models.base,
  STT_TINY_MODEL: models.tiny,
  ...(args.maxBusy !== undefined ? { STT_MAX_BUSY: String(args.maxBusy) } : {}),
};

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - performance.now())));
const round = (v: number | null | undefined) => (v === null || v === undefined || Number.isNaN(v) ? null : Math.round(v));
const stats = (values: number[]) => ({ p50: round(percentile(values, 50)), p90: round(percentile(values, 90)), max: values.length ? round(Math.max(...values)) : null, count: values.length });

interface StreamResult {
  index: number;
  start_ms: number;
  admitted: boolean;
  refusal?: string;
  /** Turns it played, and of those in the window. */
  turns: number;
  window_turns: number;
  /** Spoken turns no final covers. */
  missed: number;
  /** Utterances the service started (speech_start) and never answered. */
  unanswered: number;
  /** Utterances answered with an error instead of text. */
  errors: number;
  unfinished: boolean;
  late_max_ms: number;
  played_s: number;
  /** Its finals after the true end of speech, ms, every turn in order (null: none). */
  final_ms: (number | null)[];
}

interface RunResult {
  n: number;
  offered: number;
  admitted: number;
  refused: number;
  refusal_example: string | null;
  /** Latencies after the true end of speech, ms, over the window's utterances of admitted streams. */
  final: ReturnType<typeof stats>;
  early: ReturnType<typeof stats>;
  queue: ReturnType<typeof stats>;
  /** The same over every utterance (the ramp included). */
  final_all: ReturnType<typeof stats>;
  /** Engine busy fraction (stt_engine_busy_ratio, 20 s window) sampled during the window: mean and max. */
  busy_mean: number | null;
  busy_max: number | null;
  shed: Record<string, number>;
  service_refused: Record<string, number>;
  proxy_refusals: number;
  /** Utterances the service started (speech_start) and never answered, over the admitted streams. */
  lost: number;
  /** Spoken turns no final covers. */
  missed: number;
  /** Utterances answered with an error instead of text. */
  errors: number;
  /** Streams still owed answers FINISH_TIMEOUT_MS after their input ended (closed then). */
  unfinished: number;
  /** This process's CPU (the N clients) per second of audio streamed, ms. */
  client_cpu_ms_per_stream_s: number;
  late_max_ms: number;
  window_s: number;
  wall_s: number;
  streams: StreamResult[];
}

/** Answers and starts per seq, from the server messages a stream received. */
function unansweredSeqs(playback: Playback): { unanswered: number; errors: number } {
  const started = new Set<number>();
  const answered = new Set<number>();
  let errors = 0;
  for (const { source, message: m } of playback.receipts) {
    if (source !== 'server' || typeof m.seq !== 'number') continue;
    if (m.type === 'speech_start') started.add(m.seq);
    else if (m.type === 'transcript' && m.final !== false) answered.add(m.seq);
    else if (m.type === 'error') {
      answered.add(m.seq);
      errors++;
    }
  }
  return { unanswered: [...started].filter((s) => !answered.has(s)).length, errors };
}

async function runStreams(n: number): Promise<RunResult> {
  const plans = planStreams(n, conv);
  const last = plans.at(-1)!;
  log(`N=${n}: starting a fresh stack`);
  const stack = await startStack(env);
  const wallStart = performance.now();
  let playbacks: Playback[];
  let cpuMs: number;
  let cpuText: string;
  let proxyText: string;
  const t0 = performance.now() + 200;
  const sampler = sampleBusy(stack.cpuPort);
  try {
    log(`N=${n}: streams start over ${(last.start_ms / 1000).toFixed(1)} s; window ${((last.window[1] - last.window[0]) / 1000).toFixed(1)} s with all ${n} playing`);
    const cpu0 = process.cpuUsage();
    playbacks = await Promise.all(
      plans.map(async (p) => {
        await sleepUntil(t0 + p.start_ms);
        return play(p.conv, { port: stack.port, turns: 'server', giveUpAtCapacity: true, finishTimeoutMs: FINISH_TIMEOUT_MS });
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    cpuMs = (cpu.user + cpu.system) / 1000;
    sampler.stop();
    [cpuText, proxyText] = await Promise.all([scrape(stack.cpuPort), scrape(stack.port)]);
  } finally {
    sampler.stop();
    await stack.stop();
  }
  const wallS = (performance.now() - wallStart) / 1000;

  const finals: number[] = [];
  const early: number[] = [];
  const queue: number[] = [];
  const finalAll: number[] = [];
  const streams = plans.map((plan: StreamPlan, i): StreamResult => {
    const pb = playbacks[i]!;
    const playedS = (pb.chunks * CHUNK_MS) / 1000;
    if (pb.refused) {
      return { index: i, start_ms: plan.start_ms, admitted: false, refusal: pb.refused.detail, turns: 0, window_turns: 0, missed: 0, unanswered: 0, errors: 0, unfinished: false, late_max_ms: pb.late_max_ms, played_s: playedS, final_ms: [] };
    }
    const noFloor = plan.conv.turns.map((t) => ({ turn: t.index, floor_ms: 0, runs_ms: [], audio_ms: 0, audio_ctx: 0, text: '' }));
    const { rows } = analyse(plan.conv.turns, pb, noFloor);
    let windowTurns = 0;
    for (const row of rows) {
      if (row.final_after_end_ms !== null) finalAll.push(row.final_after_end_ms);
      if (!inWindow(plan, plan.conv.turns[row.turn - 1]!)) continue;
      windowTurns++;
      if (row.final_after_end_ms !== null) finals.push(row.final_after_end_ms);
      if (row.felt_ms !== null) early.push(row.felt_ms);
      if (row.queue_ms !== null) queue.push(row.queue_ms);
    }
    const { unanswered, errors } = unansweredSeqs(pb);
    return {
      index: i,
      start_ms: plan.start_ms,
      admitted: true,
      turns: rows.length,
      window_turns: windowTurns,
      missed: rows.filter((r) => r.status === 'missed').length,
      unanswered,
      errors,
      unfinished: pb.unfinished ?? false,
      late_max_ms: pb.late_max_ms,
      played_s: playedS,
      final_ms: rows.map((r) => r.final_after_end_ms),
    };
  });
  // The window in wall time: from the last start to the end of its last turn.
  const windowFrom = t0 + last.start_ms;
  const windowTo = windowFrom + last.window[1];
  const inside = sampler.values.filter((v) => v.at >= windowFrom && v.at <= windowTo + 2000 && Number.isFinite(v.busy));
  const admitted = streams.filter((s) => s.admitted);
  const playedS = streams.reduce((a, s) => a + s.played_s, 0);
  return {
    n,
    offered: n,
    admitted: admitted.length,
    refused: n - admitted.length,
    refusal_example: streams.find((s) => s.refusal)?.refusal ?? null,
    final: stats(finals),
    early: stats(early),
    queue: stats(queue),
    final_all: stats(finalAll),
    busy_mean: inside.length ? Math.round((inside.reduce((a, v) => a + v.busy, 0) / inside.length) * 1000) / 1000 : null,
    busy_max: inside.length ? Math.round(Math.max(...inside.map((v) => v.busy)) * 1000) / 1000 : null,
    shed: byLabel(cpuText, 'stt_shed_total', 'kind'),
    service_refused: byLabel(cpuText, 'stt_sessions_refused_total', 'reason'),
    proxy_refusals: Object.values(byLabel(proxyText, 'stt_proxy_refusals_total', 'reason')).reduce((a, v) => a + v, 0),
    lost: admitted.reduce((a, s) => a + s.unanswered, 0),
    missed: admitted.reduce((a, s) => a + s.missed, 0),
    errors: admitted.reduce((a, s) => a + s.errors, 0),
    unfinished: admitted.filter((s) => s.unfinished).length,
    client_cpu_ms_per_stream_s: playedS > 0 ? Math.round((cpuMs / playedS) * 10) / 10 : 0,
    late_max_ms: Math.max(0, ...streams.map((s) => s.late_max_ms)),
    window_s: Math.round(last.window[1] - last.window[0]) / 1000,
    wall_s: Math.round(wallS),
    streams,
  };
}

const passes = (r: RunResult) => r.admitted === r.offered && r.lost === 0 && r.missed === 0 && r.final.p90 !== null && r.final.p90 <= TARGET_MS;
const f = (v: number | null | undefined) => (v === null || v === undefined ? '-' : String(v));
const line = (r: RunResult) =>
  `N=${r.n}: admitted ${r.admitted}/${r.offered}, final p50/p90/max ${f(r.final.p50)}/${f(r.final.p90)}/${f(r.final.max)} ms, early p90 ${f(r.early.p90)} ms, queue p90 ${f(r.queue.p90)} ms, busy ${f(r.busy_mean)} (max ${f(r.busy_max)}), shed ${JSON.stringify(r.shed)}, lost ${r.lost}, missed ${r.missed}`;

log(`conversation: ${conv.turns.length} turns, ${convSeconds.toFixed(1)} s; N = ${args.n.join(', ')}${args.maxBusy !== undefined ? `; STT_MAX_BUSY=${args.maxBusy}` : ''}`);
const runs: RunResult[] = [];
let over = 0;
for (const n of args.n) {
  const r = await runStreams(n);
  runs.push(r);
  log(line(r));
  over = r.final.p90 !== null && r.final.p90 > TARGET_MS ? over + 1 : 0;
  if (over >= 2 && !args.full) {
    log(`past the knee (two stream counts over the ${TARGET_MS} ms target): the sweep stops here (--full runs every N)`);
    break;
  }
}

// Largest N that passes, every smaller N passing too: a fluke at one N does not move it.
let capacity: number | null = null;
for (const r of runs) {
  if (!passes(r)) break;
  capacity = r.n;
}
const atCapacity = runs.find((r) => r.n === capacity);
// Every N run passed: the knee lies beyond the sweep, so the capacity is only a floor.
const atLeast = capacity !== null && capacity === runs.at(-1)!.n;
const capacityText = capacity === null ? 'none' : `${atLeast ? 'at least ' : ''}${capacity}`;
log(capacity === null ? `capacity: none of N = ${runs.map((r) => r.n).join(', ')} kept final p90 within ${TARGET_MS} ms` : `capacity: ${capacityText} streams (final p90 ${atCapacity!.final.p90} ms)`);

let overload: (RunResult & { final_p90_vs_capacity: number | null }) | undefined;
if (args.overload && capacity !== null) {
  const r = await runStreams(2 * capacity);
  const ratio = r.final.p90 !== null && atCapacity!.final.p90 ? Math.round((r.final.p90 / atCapacity!.final.p90) * 100) / 100 : null;
  overload = { ...r, final_p90_vs_capacity: ratio };
  log(`2x capacity: ${line(r)}; refused ${r.refused}; admitted final p90 ${f(ratio)}x the capacity's`);
}

let cli: (CliCost & { in_process_cpu_ms_per_stream_s: number | null }) | undefined;
if (args.cli) {
  log('one stream as its own CLI process: starting a fresh stack');
  const stack = await startStack(env);
  try {
    const cost = await measureCliCost(stack.port, conv);
    const one = runs.find((r) => r.n === 1) ?? runs[0];
    cli = { ...cost, in_process_cpu_ms_per_stream_s: one?.client_cpu_ms_per_stream_s ?? null };
    log(`CLI: start-up ${cost.startup.cpu_ms} ms CPU (${cost.startup.wall_ms} ms wall, ${cost.startup.max_rss_mib} MiB); streaming ${cost.stream.cpu_ms} ms CPU over ${cost.audio_s} s, ${cost.cpu_ms_per_audio_s} ms CPU per audio second past start-up, ${cost.stream.max_rss_mib} MiB; in one process: ${f(cli.in_process_cpu_ms_per_stream_s)} ms per stream-second`);
  } finally {
    await stack.stop();
  }
}

const row = (r: RunResult, label = String(r.n)) =>
  `| ${label} | ${r.admitted}/${r.offered} | ${f(r.early.p50)} / ${f(r.early.p90)} / ${f(r.early.max)} | ${f(r.final.p50)} / ${f(r.final.p90)} / ${f(r.final.max)} | ${f(r.queue.p50)} / ${f(r.queue.p90)} / ${f(r.queue.max)} | ${f(r.busy_mean)} (${f(r.busy_max)}) | ${Object.entries(r.shed).map(([k, v]) => `${k} ${v}`).join(', ') || '-'} | ${r.refused} | ${r.lost} / ${r.missed} | ${r.final.count} | ${r.client_cpu_ms_per_stream_s} |`;
const md = [
  `### Capacity: ${args.label} (${conv.turns.length} turns, ${convSeconds.toFixed(1)} s conversation, ${availableParallelism()} cores)`,
  '',
  'Latencies in ms after the true end of speech, over the utterances that end while all N streams play (p50 / p90 / max).',
  '',
  '| N | admitted | early text | final | queue wait | engine busy mean (max) | shed | refused | lost / missed | utterances | client CPU ms per stream-s |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...runs.map((r) => row(r)),
  ...(overload ? [row(overload, `${overload.n} (2x)`)] : []),
  '',
  '- Lost: utterances the service started and never answered (a stream still owed answers 60 s after its input ended is closed: they count). Missed: spoken turns no final covers.',
  `- Capacity (largest N with final p90 <= ${TARGET_MS} ms, every stream admitted, nothing lost or missed): **${capacityText}**${atLeast ? ' (every N run passed: run larger N to find the knee)' : ''}.`,
  ...(overload
    ? [`- At 2x (${overload.n} offered): ${overload.admitted} admitted, ${overload.refused} refused at connect, ${overload.lost} lost, ${overload.missed} missed; admitted final p90 ${f(overload.final.p90)} ms = **${f(overload.final_p90_vs_capacity)}x** the p90 at capacity (target <= 1.5x).`]
    : []),
  ...(cli
    ? [`- One stream as its own CLI process: ${cli.startup.cpu_ms} ms CPU to start (${cli.startup.max_rss_mib} MiB), then ${cli.cpu_ms_per_audio_s} ms CPU per second of audio (${cli.stream.max_rss_mib} MiB); inside one process ${f(cli.in_process_cpu_ms_per_stream_s)} ms per stream-second.`]
    : []),
].join('\n');

mkdirSync(args.out, { recursive: true });
const settings = {
  date: new Date().toISOString(),
  label: args.label,
  n: args.n,
  max_busy: args.maxBusy ?? 'default',
  target_ms: TARGET_MS,
  host: { cores: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', node: process.version, load_1m_before: loadBefore, load_1m_after: loadavg()[0] },
  models: { synthetic: true, text: models.text },
  conversation: { turns: conv.turns.length, seconds: Number(convSeconds.toFixed(2)) },
  stagger_s: [1.7, 2.7],
};
const svg = latencyChart(
  runs.map((r) => ({ n: r.n, final_p50_ms: r.final.p50, final_p90_ms: r.final.p90, final_max_ms: r.final.max, early_p90_ms: r.early.p90 })),
  { title: `Latency after the end of speech against streams (${args.label})`, capacity, targetMs: TARGET_MS },
);
const base = join(args.out, args.label);
writeFileSync(`${base}.json`, `${JSON.stringify({ settings, capacity, capacity_is_lower_bound: atLeast, runs, overload: overload ?? null, cli: cli ?? null }, null, 2)}\n`);
writeFileSync(`${base}.md`, `${md}\n`);
writeFileSync(`${base}.svg`, svg);
console.log(md);
log(`wrote ${base}.md, ${base}.json and ${base}.svg`);
process.exit(0);
