/**
 * What Silero, run as the service runs it (UtteranceTracker with its defaults), makes of one
 * microphone signal of the echo conversation: speech starts inside the echo that no streamer
 * turn explains, streamer turns it never finds, and how late on the audio clock it finds them.
 */
import { DEFAULT_TRACKER, UtteranceTracker, WINDOW_MS, type SileroModel } from '@vtuber-stt/core';
import type { EchoConversation } from './conversation.js';

/** A start this much before a turn's energy onset still belongs to the turn (a soft first phoneme). */
const EARLY_MS = 100;

export interface Detection {
  /** First window of the speech, and the moment the tracker announced it (audio clock). */
  start_ms: number;
  confirmed_ms: number;
}

export interface TurnResult {
  index: number;
  clip: string;
  barge_in: boolean;
  gain_db: number;
  start_ms: number;
  /** Announced speech_start minus the turn's true onset; null when missed. */
  delay_ms: number | null;
  /** Announced speech_start minus when Silero announces the clean clip alone: what echo and canceller add. */
  added_ms: number | null;
}

export interface Analysis {
  starts: Detection[];
  /** Speech starts that no streamer turn explains, and those of them inside a VTuber line's echo. */
  false_starts: number;
  false_starts_in_echo: number;
  missed: number;
  turns: TurnResult[];
  delay_p50_ms: number | null;
  delay_p90_ms: number | null;
  delay_max_ms: number | null;
  added_p50_ms: number | null;
  added_p90_ms: number | null;
}

export async function speechStarts(model: SileroModel, audio: Float32Array): Promise<Detection[]> {
  const tracker = new UtteranceTracker(DEFAULT_TRACKER);
  const starts: Detection[] = [];
  for (const p of await model.createStream().push(audio)) {
    const event = tracker.push(p);
    if (event?.type === 'speech_start') starts.push({ start_ms: event.offset_ms, confirmed_ms: tracker.position * WINDOW_MS });
  }
  return starts;
}

export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** `cleanMs[i]`: when Silero announces turn i's clip heard alone, ms from the clip's start. */
export function analyse(conv: EchoConversation, starts: Detection[], cleanMs: (number | null)[]): Analysis {
  const explained = new Set<Detection>();
  const turns = conv.turns.map((t, i): TurnResult => {
    const found = starts.find((s) => s.start_ms >= t.start_ms - EARLY_MS && s.start_ms < t.end_ms);
    if (found) explained.add(found);
    const clean = cleanMs[i];
    return {
      index: t.index,
      clip: t.clip,
      barge_in: t.barge_in,
      gain_db: t.gain_db,
      start_ms: t.start_ms,
      delay_ms: found ? Math.round(found.confirmed_ms - t.start_ms) : null,
      added_ms: found && clean != null ? Math.round(found.confirmed_ms - (t.clip_at_ms + clean)) : null,
    };
  });
  const unexplained = starts.filter((s) => !explained.has(s));
  const inEcho = unexplained.filter((s) => conv.lines.some((l) => s.start_ms >= l.start_ms - EARLY_MS && s.start_ms < l.end_ms));
  const delays = turns.flatMap((t) => (t.delay_ms === null ? [] : [t.delay_ms]));
  const added = turns.flatMap((t) => (t.added_ms === null ? [] : [t.added_ms]));
  return {
    starts,
    false_starts: unexplained.length,
    false_starts_in_echo: inEcho.length,
    missed: turns.filter((t) => t.delay_ms === null).length,
    turns,
    delay_p50_ms: percentile(delays, 50),
    delay_p90_ms: percentile(delays, 90),
    delay_max_ms: delays.length ? Math.max(...delays) : null,
    added_p50_ms: percentile(added, 50),
    added_p90_ms: percentile(added, 90),
  };
}
