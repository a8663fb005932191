/**
 * From message receipts to per-turn latencies. Each final is matched to the true turn it overlaps
 * most; a turn with two finals is split, a final spanning two turns is merged.
 *
 * A merged final counts for every turn it spans (each felt against its own end).
 *
 * Felt latency: the first moment the client held the text the final keeps, minus the true end of
 * speech (wall clock: playStart + true end). The synthetic models say the same words for ANY
 * audio, so text equality alone would credit a speculation decoded at a mid-turn pause, on audio
 * the final no longer matches. With real models that text would differ; to measure what a real
 * model would give, an early (final:false) text counts only when the final reports it used it
 * (`speculative: "hit"`), and then only the last one sent before the final whose engine input
 * (`decoded_ms`) is the final's: a speculation that missed (speech resumed) and one that hit may
 * both come before the final, and only the latter was the final's text.
 */
import type { Turn } from './conversation.js';
import type { FloorRow } from './floor.js';
import type { Playback, Receipt } from './player.js';

interface Final {
  seq: number;
  text: string;
  start_ms: number;
  end_ms: number;
  /** First receipt of the final itself. */
  at: number;
  queue_ms?: number;
  inference_ms?: number;
  speculative?: string;
  ended_by?: string;
  /** The span the engine decoded, as "from-to" (ms on the connection's timeline). */
  decoded?: string;
}

interface SeqEvents {
  final?: Final;
  /** final:false texts, in arrival order. */
  early: { text: string; at: number; source: Receipt['source']; decoded?: string }[];
  speechEnd?: { at: number; end_ms?: number; decided_ms?: number };
  emptyFinal?: { dropped?: string; start_ms?: number; end_ms?: number };
  /** Turn events (server turns): arrival of each eager end, how many were resumed, and the end's. */
  turn: { eager: number[]; resumed: number; end?: number };
}

export interface TurnRow {
  turn: number;
  id: string;
  language: string;
  speech_ms: number;
  pause_ms: number | null;
  gain_db: number;
  status: 'ok' | 'split' | 'merged' | 'missed';
  seqs: number[];
  felt_ms: number | null;
  /** Felt came from an early (final:false) message rather than the final. */
  felt_from_early: boolean | null;
  /** Detected end of speech (the final's end_ms) minus the true end, audio ms. */
  eos_delay_ms: number | null;
  /** speech_end receipt minus the true end, wall ms (server turns only). */
  end_wait_ms: number | null;
  /** speech_end's decided_ms minus its end_ms: silence the service waited, audio ms. */
  decided_after_ms: number | null;
  final_after_end_ms: number | null;
  queue_ms: number | null;
  inference_ms: number | null;
  floor_ms: number;
  decode_over_floor: number | null;
  speculative: string | null;
  ended_by: string | null;
  dropped: string | null;
  /** The eager end that held (the last before the turn's end) minus the true end, wall ms. */
  eager_end_ms: number | null;
  /** The turn's `end` event minus the true end, wall ms. */
  turn_end_ms: number | null;
  /** `resumed` events of the turn: each an eager end that was thrown away. */
  resumed: number;
}

export interface Summary {
  turns: number;
  with_text: number;
  felt_p50_ms: number | null;
  felt_p90_ms: number | null;
  felt_max_ms: number | null;
  floor_p50_ms: number;
  felt_p50_minus_floor_p50_ms: number | null;
  splits: number;
  merges: number;
  missed: number;
  /** Finals overlapping no true turn (false triggers). */
  extra_finals: number;
  speculative_hits: number;
  felt_from_early: number;
  decode_over_floor_geomean: number | null;
  eager_end_p50_ms: number | null;
  eager_end_p90_ms: number | null;
  turn_end_p50_ms: number | null;
  turn_end_p90_ms: number | null;
  /** Eager ends thrown away over the conversation (speech came back after them). */
  resumed: number;
  targets: { p50_le_450: boolean | null; p90_le_700: boolean | null; p50_within_200_of_floor: boolean | null };
}

/** Linear interpolation between closest ranks (numpy's default). */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const x = (p / 100) * (s.length - 1);
  const lo = Math.floor(x);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (x - lo);
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const round = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? null : Math.round(v * 10 ** digits) / 10 ** digits);

/** Groups every receipt by seq: the client's utterances first (what it hands on), server messages add what they carry. */
function collect(receipts: Receipt[]): Map<number, SeqEvents> {
  const bySeq = new Map<number, SeqEvents>();
  const get = (seq: number) => bySeq.get(seq) ?? bySeq.set(seq, { early: [], turn: { eager: [], resumed: 0 } }).get(seq)!;
  for (const { at, source, message: m } of receipts) {
    const seq = num(m.seq);
    if (seq === undefined) continue;
    const ev = get(seq);
    const text = str(m.text) ?? '';
    const isTranscript = source === 'utterance' || m.type === 'transcript';
    if (source === 'server' && m.type === 'speech_end') ev.speechEnd ??= { at, end_ms: num(m.end_ms), decided_ms: num(m.decided_ms) };
    if (source === 'server' && m.type === 'turn') {
      if (m.event === 'eager_end') ev.turn.eager.push(at);
      else if (m.event === 'resumed') ev.turn.resumed++;
      else if (m.event === 'end') ev.turn.end ??= at;
    }
    if (!isTranscript) continue;
    if (m.final === false) {
      ev.early.push({ text, at, source, decoded: span(m.decoded_ms) });
      continue;
    }
    if (!text) {
      ev.emptyFinal ??= { dropped: str(m.dropped), start_ms: num(m.start_ms), end_ms: num(m.end_ms) };
      continue;
    }
    const f = ev.final;
    // The client's utterance carries the timeline (in detect mode only it knows start/end);
    // the server's message carries the service's own fields; the earliest receipt wins.
    const fromClient = source === 'utterance';
    ev.final = {
      seq,
      text,
      start_ms: (fromClient ? num(m.start_ms) : undefined) ?? f?.start_ms ?? num(m.start_ms) ?? 0,
      end_ms: (fromClient ? num(m.end_ms) : undefined) ?? f?.end_ms ?? num(m.end_ms) ?? 0,
      at: Math.min(at, f?.at ?? Infinity),
      queue_ms: f?.queue_ms ?? num(m.queue_ms),
      inference_ms: f?.inference_ms ?? num(m.inference_ms),
      speculative: f?.speculative ?? str(m.speculative),
      ended_by: f?.ended_by ?? str(m.ended_by),
      decoded: f?.decoded ?? span(m.decoded_ms),
    };
  }
  return bySeq;
}

const span = (v: unknown) => (Array.isArray(v) && v.length === 2 ? `${String(v[0])}-${String(v[1])}` : undefined);

/** When the client first held the final's text (see the module comment for the early-text rule). */
function heldAt(ev: SeqEvents, final: Final): { at: number; early: boolean } {
  if (final.speculative === 'hit') {
    // The same message may arrive twice (the server's copy, then the client's utterance): one source only.
    const fromServer = ev.early.some((e) => e.source === 'server');
    const sameInput = (e: SeqEvents['early'][number]) => !e.decoded || !final.decoded || e.decoded === final.decoded;
    const last = ev.early.filter((e) => e.at <= final.at && (e.source === 'server') === fromServer && sameInput(e)).at(-1);
    if (last && last.text === final.text) return { at: last.at, early: true };
  }
  return { at: final.at, early: false };
}

const overlap = (a0: number, a1: number, b0: number, b1: number) => Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));

export function analyse(turns: Turn[], playback: Playback, floor: FloorRow[]): { rows: TurnRow[]; summary: Summary } {
  const bySeq = collect(playback.receipts);
  const finals = [...bySeq.values()].flatMap((e) => (e.final ? [e.final] : [])).sort((a, b) => a.start_ms - b.start_ms);
  const assigned = new Map<number, Final[]>();
  const mergedSeqs = new Set<number>();
  let extra = 0;
  for (const f of finals) {
    const o = turns.map((t) => overlap(f.start_ms, f.end_ms, t.start_ms, t.end_ms));
    const best = o.indexOf(Math.max(...o));
    if (o[best]! <= 0) {
      extra++;
      continue;
    }
    // Spanning two turns means it covers real speech of both, not an edge touching a neighbour.
    // A merged final belongs to every turn it spans: each of them waited for it.
    const spanned = turns.filter((t, i) => o[i]! >= Math.min(100, (t.end_ms - t.start_ms) / 2));
    if (spanned.length > 1) mergedSeqs.add(f.seq);
    for (const t of spanned.length > 1 ? spanned : [turns[best]!]) assigned.set(t.index, [...(assigned.get(t.index) ?? []), f]);
  }

  const rows = turns.map((t): TurnRow => {
    const fs = assigned.get(t.index) ?? [];
    const floorMs = floor.find((r) => r.turn === t.index)?.floor_ms ?? NaN;
    const status: TurnRow['status'] = fs.length === 0 ? 'missed' : fs.some((f) => mergedSeqs.has(f.seq)) ? 'merged' : fs.length > 1 ? 'split' : 'ok';
    // The final that ends the turn is the one whose text the client is left holding.
    const f = fs.reduce<Final | undefined>((a, b) => (!a || b.end_ms > a.end_ms ? b : a), undefined);
    const ev = f ? bySeq.get(f.seq)! : undefined;
    const trueEndWall = playback.playStart + t.end_ms;
    const held = f && ev ? heldAt(ev, f) : undefined;
    const empty = [...bySeq.values()].find((e) => e.emptyFinal && overlap(e.emptyFinal.start_ms ?? -1, e.emptyFinal.end_ms ?? -1, t.start_ms, t.end_ms) > 0);
    return {
      turn: t.index,
      id: t.id,
      language: t.language,
      speech_ms: Math.round(t.end_ms - t.start_ms),
      pause_ms: t.pause_ms,
      gain_db: t.gain_db,
      status,
      seqs: fs.map((x) => x.seq),
      felt_ms: round(held ? held.at - trueEndWall : null),
      felt_from_early: held ? held.early : null,
      eos_delay_ms: round(f ? f.end_ms - t.end_ms : null),
      end_wait_ms: round(ev?.speechEnd ? ev.speechEnd.at - trueEndWall : null),
      decided_after_ms: round(ev?.speechEnd?.decided_ms !== undefined && ev.speechEnd.end_ms !== undefined ? ev.speechEnd.decided_ms - ev.speechEnd.end_ms : null),
      final_after_end_ms: round(f ? f.at - trueEndWall : null),
      queue_ms: f?.queue_ms ?? null,
      inference_ms: f?.inference_ms ?? null,
      floor_ms: floorMs,
      decode_over_floor: round(f?.inference_ms !== undefined ? f.inference_ms / floorMs : null, 2),
      speculative: f?.speculative ?? null,
      ended_by: f?.ended_by ?? null,
      dropped: f ? null : (empty?.emptyFinal?.dropped ?? null),
      eager_end_ms: round(ev?.turn.eager.length ? ev.turn.eager.filter((at) => at <= (ev.turn.end ?? Infinity)).at(-1)! - trueEndWall : null),
      turn_end_ms: round(ev?.turn.end !== undefined ? ev.turn.end - trueEndWall : null),
      resumed: fs.reduce((n, x) => n + (bySeq.get(x.seq)?.turn.resumed ?? 0), 0),
    };
  });
  const eager = rows.flatMap((r) => (r.eager_end_ms === null ? [] : [r.eager_end_ms]));
  const ends = rows.flatMap((r) => (r.turn_end_ms === null ? [] : [r.turn_end_ms]));

  const felt = rows.flatMap((r) => (r.felt_ms === null ? [] : [r.felt_ms]));
  const ratios = rows.flatMap((r) => (r.decode_over_floor === null ? [] : [r.decode_over_floor]));
  const p50 = percentile(felt, 50);
  const p90 = percentile(felt, 90);
  const floorP50 = percentile(floor.map((r) => r.floor_ms), 50) ?? NaN;
  const gap = p50 === null ? null : p50 - floorP50;
  const summary: Summary = {
    turns: turns.length,
    with_text: felt.length,
    felt_p50_ms: round(p50),
    felt_p90_ms: round(p90),
    felt_max_ms: round(felt.length ? Math.max(...felt) : null),
    floor_p50_ms: Math.round(floorP50),
    felt_p50_minus_floor_p50_ms: round(gap),
    splits: rows.filter((r) => r.status === 'split').length,
    merges: mergedSeqs.size,
    missed: rows.filter((r) => r.status === 'missed').length,
    extra_finals: extra,
    speculative_hits: rows.filter((r) => r.speculative === 'hit').length,
    felt_from_early: rows.filter((r) => r.felt_from_early).length,
    decode_over_floor_geomean: round(ratios.length ? Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length) : null, 2),
    eager_end_p50_ms: round(percentile(eager, 50)),
    eager_end_p90_ms: round(percentile(eager, 90)),
    turn_end_p50_ms: round(percentile(ends, 50)),
    turn_end_p90_ms: round(percentile(ends, 90)),
    resumed: [...bySeq.values()].reduce((n, e) => n + e.turn.resumed, 0),
    targets: {
      p50_le_450: p50 === null ? null : p50 <= 450,
      p90_le_700: p90 === null ? null : p90 <= 700,
      p50_within_200_of_floor: gap === null ? null : gap <= 200,
    },
  };
  return { rows, summary };
}
