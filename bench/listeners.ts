/**
 * Listeners must not slow the speaker (issue 20: 50 listeners add at most 5 ms to the speaker's
 * p99 final delivery). Usage: npm run bench:listeners [-- --listeners 50 --rounds 1 --quick --out DIR]
 *
 * The stack as `npm start` runs it (bench/felt/stack.ts, synthetic base/tiny models), one speaker
 * playing bench:felt's fixture conversation in real time through the microphone client's code on a
 * named session (`?session=`, server turns, early text, turn events), first with no listener, then
 * with N listeners on `/ws/events?session=...` (their own process: bench/listeners/swarm.ts).
 * Each round plays both, in that order, on the same stack. Per run: the speaker's final delivery
 * (its final's arrival minus the true end of the turn's speech, wall ms), p50 and p99 over every
 * turn of every round; with listeners, also how long after the speaker each listener had each final.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { benchStart } from './felt/preamble.js';
import { analyse, percentile, type TurnRow } from './felt/analysis.js';
import { buildConversation, type Conversation } from './felt/conversation.js';
import { feltModels } from './felt/models.js';
import { play, type Playback } from './felt/player.js';
import { startStack } from './felt/stack.js';

const USAGE = `usage: npm run bench:listeners -- [--listeners N] [--rounds R] [--quick] [--out DIR]
  --listeners  listeners in the second run of each round (default 50)
  --rounds     rounds of (no listener, N listeners), pooled (default 1)
  --quick      the first 4 turns of the conversation only
  --out        where listeners.md and listeners.json go (default bench/results)`;

function parseArgs(argv: string[]) {
  const a = { listeners: 50, rounds: 1, quick: false, out: 'bench/results' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const whole = (v: string | undefined, min: number) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be a whole number >= ${min} (got ${v})\n${USAGE}`);
      return n;
    };
    if (flag === '--listeners') a.listeners = whole(argv[++i], 1);
    else if (flag === '--rounds') a.rounds = whole(argv[++i], 1);
    else if (flag === '--quick') a.quick = true;
    else if (flag === '--out') a.out = argv[++i] ?? a.out;
    else if (flag === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${flag}\n${USAGE}`);
  }
  return a;
}

const { args, log, loadBefore } = benchStart('listeners', parseArgs);

interface Swarm {
  child: ChildProcess;
  lines: AsyncIterableIterator<string>;
}

/** N listeners in their own process, all holding their first `session` message. */
async function startSwarm(url: string, count: number): Promise<Swarm> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/listeners/swarm.ts', url, String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done || first.value !== 'open') throw new Error(`the listeners did not open (${first.value ?? 'exited'})`);
  return { child, lines };
}

interface SwarmReport {
  messages: number;
  closed: { code: number; reason: string }[];
  finals: Record<string, number[]>;
}

async function stopSwarm(s: Swarm): Promise<SwarmReport> {
  s.child.stdin!.write('report\n');
  const line = await s.lines.next();
  if (line.done) throw new Error('the listeners exited without a report');
  return JSON.parse(line.value) as SwarmReport;
}

interface Run {
  round: number;
  listeners: number;
  session: string;
  /** Speaker: final arrival minus the true end of its turn's speech (wall ms), per turn with a final. */
  delivery_ms: number[];
  turns_missed: number;
  /** Listener's final minus the speaker's final, over every listener and final (ms). */
  listener_lag_ms: number[];
  listener_messages?: number;
  listeners_closed?: SwarmReport['closed'];
  late_max_ms: number;
  /** Per turn, what bench:felt's analysis found (status, seqs, where the time went). */
  rows: Pick<TurnRow, 'turn' | 'status' | 'seqs' | 'final_after_end_ms' | 'eos_delay_ms' | 'end_wait_ms' | 'queue_ms' | 'inference_ms' | 'speculative' | 'ended_by'>[];
}

function measure(conv: Conversation, playback: Playback, round: number, listeners: number, session: string, report?: SwarmReport): Run {
  const { rows } = analyse(conv.turns, playback, conv.turns.map((t) => ({ turn: t.index, floor_ms: 0, runs_ms: [], audio_ms: 0, audio_ctx: 0, text: '' })));
  const delivery = rows.flatMap((r) => (r.final_after_end_ms === null ? [] : [r.final_after_end_ms]));
  const lag: number[] = [];
  if (report) {
    for (const r of playback.receipts) {
      const m = r.message;
      if (r.source !== 'server' || m.type !== 'transcript' || m.final === false || typeof m.seq !== 'number') continue;
      const spoken = performance.timeOrigin + r.at;
      for (const at of report.finals[m.seq] ?? []) lag.push(Math.round((at - spoken) * 10) / 10);
    }
  }
  return {
    round,
    listeners,
    session,
    delivery_ms: delivery,
    turns_missed: rows.filter((r) => r.final_after_end_ms === null).length,
    listener_lag_ms: lag,
    ...(report ? { listener_messages: report.messages, listeners_closed: report.closed } : {}),
    late_max_ms: playback.late_max_ms,
    rows: rows.map(({ turn, status, seqs, final_after_end_ms, eos_delay_ms, end_wait_ms, queue_ms, inference_ms, speculative, ended_by }) => ({ turn, status, seqs, final_after_end_ms, eos_delay_ms, end_wait_ms, queue_ms, inference_ms, speculative, ended_by })),
  };
}

const conv = buildConversation(args.quick ? 4 : undefined);
const seconds = conv.samples.length / 16000;
const models = feltModels(true);
const env = { STT_MODEL: models.base, STT_TINY_MODEL: models.tiny, STT_PROXY_MAX_LISTENERS: String(Math.max(64, args.listeners + 1)) };
log(`conversation: ${conv.turns.length} turns, ${seconds.toFixed(1)} s; ${args.rounds} round(s) of 0 and ${args.listeners} listeners`);
const stack = await startStack(env);
const runs: Run[] = [];
try {
  log(`stack ready on port ${stack.port}`);
  for (let round = 1; round <= args.rounds; round++) {
    for (const count of [0, args.listeners]) {
      // A name per run: the last run's speaker may still be letting its name go.
      const session = `bench-r${round}-l${count}`;
      const swarm = count ? await startSwarm(`ws://127.0.0.1:${stack.port}/ws/events?session=${session}`, count) : undefined;
      log(`round ${round}: ${count} listeners on ${session}; playing ${seconds.toFixed(1)} s in real time`);
      const playback = await play(conv, { port: stack.port, turns: 'server', session });
      const report = swarm ? await stopSwarm(swarm) : undefined;
      const run = measure(conv, playback, round, count, session, report);
      runs.push(run);
      log(`  delivery p50 ${percentile(run.delivery_ms, 50)?.toFixed(0)} ms, p99 ${percentile(run.delivery_ms, 99)?.toFixed(0)} ms over ${run.delivery_ms.length} turns` +
        (report ? `; listeners got ${report.messages} messages, lag p99 ${percentile(run.listener_lag_ms, 99)?.toFixed(1)} ms, ${report.closed.length} closed early` : ''));
    }
  }
} finally {
  await stack.stop();
}

const pooled = (count: number) => runs.filter((r) => r.listeners === count);
const stats = (count: number) => {
  const rs = pooled(count);
  const d = rs.flatMap((r) => r.delivery_ms);
  const lag = rs.flatMap((r) => r.listener_lag_ms);
  return {
    turns: d.length,
    missed: rs.reduce((n, r) => n + r.turns_missed, 0),
    p50: percentile(d, 50),
    p99: percentile(d, 99),
    max: d.length ? Math.max(...d) : null,
    lag_p50: percentile(lag, 50),
    lag_p99: percentile(lag, 99),
    lag_count: lag.length,
    closed: rs.reduce((n, r) => n + (r.listeners_closed?.filter((c) => c.reason !== 'bench over').length ?? 0), 0),
  };
};
const none = stats(0);
const many = stats(args.listeners);
const f = (v: number | null, d = 0) => (v === null ? '-' : v.toFixed(d));
const diff = none.p99 !== null && many.p99 !== null ? many.p99 - none.p99 : null;
const md = [
  `### Listeners: ${args.listeners} on the speaker's session vs none (${conv.turns.length} turns x ${args.rounds} round(s))`,
  '',
  '| listeners | turns | final delivery p50 | p99 | max | listener lag behind the speaker p50 / p99 | listeners closed early |',
  '|---|---|---|---|---|---|---|',
  `| 0 | ${none.turns} (${none.missed} missed) | ${f(none.p50)} ms | ${f(none.p99)} ms | ${f(none.max)} ms | - | - |`,
  `| ${args.listeners} | ${many.turns} (${many.missed} missed) | ${f(many.p50)} ms | ${f(many.p99)} ms | ${f(many.max)} ms | ${f(many.lag_p50, 1)} / ${f(many.lag_p99, 1)} ms (${many.lag_count} finals) | ${many.closed} |`,
  '',
  `- p99 with ${args.listeners} listeners minus without: **${f(diff)} ms** (target ≤ 5 ms: ${diff === null ? 'n/a' : diff <= 5 ? 'PASS' : 'FAIL'}); p50 difference ${none.p50 !== null && many.p50 !== null ? f(many.p50 - none.p50) : '-'} ms.`,
  '- Final delivery: the final\'s arrival at the speaker minus the true end of the turn\'s speech (it includes the end-of-turn silence and the decode, which vary by tens of ms from run to run).',
].join('\n');
mkdirSync(args.out, { recursive: true });
const settings = {
  date: new Date().toISOString(),
  listeners: args.listeners,
  rounds: args.rounds,
  quick: args.quick,
  host: { cores: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', node: process.version, load_1m_before: loadBefore, load_1m_after: loadavg()[0] },
  conversation: { turns: conv.turns.length, seconds: Number(seconds.toFixed(2)) },
};
writeFileSync(join(args.out, 'listeners.json'), `${JSON.stringify({ settings, summary: { none, many, p99_difference_ms: diff }, runs }, null, 2)}\n`);
writeFileSync(join(args.out, 'listeners.md'), `${md}\n`);
console.log(md);
log(`wrote ${join(args.out, 'listeners.md')} and listeners.json`);
process.exit(0);
