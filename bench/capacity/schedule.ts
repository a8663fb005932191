/**
 * When each of N streams starts and what it plays. The k-th starts 1.7-2.7 s after the one before
 * (a fixed pseudo-random sequence: the same offsets every run). Every stream plays the felt bench's
 * conversation over and over until all N have played one whole conversation together: the
 * measurement window, from the last start to one conversation later. It stops at the first pause
 * between turns after that, so every turn it plays is whole. Latencies inside the window are what
 * N streams at once cost; the ramp before it (fewer streams) is kept apart.
 */
import { SAMPLE_RATE } from '@vtuber-stt/core';
import type { Conversation, Turn } from '../felt/conversation.js';
import { prng } from '../felt/signal.js';

export const STAGGER_S: readonly [number, number] = [1.7, 2.7];

export interface StreamPlan {
  /** 0-based. */
  index: number;
  /** ms after the first stream's start. */
  start_ms: number;
  /** The conversation repeated and cut: what this stream plays. */
  conv: Conversation;
  /** Its conversation-time span (ms) during which every stream plays. */
  window: [number, number];
  repeats: number;
}

/** `conv` played `times` times back to back; turn indices run on (13, 14, ... in the second pass). */
function repeated(conv: Conversation, times: number): Conversation {
  const samples = new Float32Array(conv.samples.length * times);
  const lengthMs = (conv.samples.length / SAMPLE_RATE) * 1000;
  const turns: Turn[] = [];
  for (let r = 0; r < times; r++) {
    samples.set(conv.samples, r * conv.samples.length);
    for (const t of conv.turns) turns.push({ ...t, index: turns.length + 1, start_ms: t.start_ms + r * lengthMs, end_ms: t.end_ms + r * lengthMs });
  }
  return { samples, turns, noise_dbfs: conv.noise_dbfs };
}

/** Silence before the next turn's speech that is cut off with it (the clips keep 100 ms before their speech). */
const BEFORE_NEXT_MS = 200;

/**
 * The first turns of `conv` that end by `untilMs`, and the audio up to just before the next turn
 * (or the conversation's end). The gaps are at least 1 s, so at least 0.8 s of silence follows the
 * last turn: the service ends it by silence (0.45-0.7 s), as every other turn, not by the flush
 * that ends the input.
 */
function cut(conv: Conversation, untilMs: number): Conversation {
  const kept = conv.turns.filter((t, i) => i === 0 || t.end_ms <= untilMs);
  const next = conv.turns[kept.length];
  const endMs = next ? next.start_ms - BEFORE_NEXT_MS : (conv.samples.length / SAMPLE_RATE) * 1000;
  return { samples: conv.samples.subarray(0, Math.round((endMs / 1000) * SAMPLE_RATE)), turns: kept, noise_dbfs: conv.noise_dbfs };
}

export function planStreams(n: number, conv: Conversation, seed = 21): StreamPlan[] {
  const next = prng(seed);
  const starts = [0];
  for (let k = 1; k < n; k++) starts.push(starts[k - 1]! + Math.round((STAGGER_S[0] + next() * (STAGGER_S[1] - STAGGER_S[0])) * 1000));
  const last = starts.at(-1)!;
  const lengthMs = (conv.samples.length / SAMPLE_RATE) * 1000;
  // The window ends at the last stream's last turn: every stream plays through it.
  const windowEnd = last + conv.turns.at(-1)!.end_ms;
  return starts.map((start, index) => {
    const window: [number, number] = [last - start, windowEnd - start];
    const repeats = Math.ceil(window[1] / lengthMs);
    return { index, start_ms: start, conv: cut(repeated(conv, repeats), window[1]), window, repeats };
  });
}

/** The turns of a stream whose true end falls in its window. */
export const inWindow = (plan: StreamPlan, turn: Turn) => turn.end_ms > plan.window[0] && turn.end_ms <= plan.window[1];
