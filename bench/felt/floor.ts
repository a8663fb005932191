/**
 * The floor: what the bare engine needs for each turn, with nothing else running. Called exactly
 * as bench/transcribe_latency.ts calls @napi-rs/whisper (same params, encoder sized to the audio),
 * on the audio a well-cut utterance would hold: true start - 300 ms to true end + 200 ms.
 */
import { availableParallelism } from 'node:os';
import { Whisper, WhisperFullParams, WhisperSamplingStrategy } from '@napi-rs/whisper';
import { audioCtxFor, MIN_ENGINE_SAMPLES, SAMPLE_RATE } from '@vtuber-stt/core';
import type { Conversation } from './conversation.js';

const BEFORE_MS = 300;
const AFTER_MS = 200;
/** whisper.cpp returns nothing for 1 s or less of audio: padded to the service's own minimum (1.2 s). */
const MIN_SAMPLES = MIN_ENGINE_SAMPLES;
const REPS = 3;

export interface FloorRow {
  turn: number;
  floor_ms: number;
  runs_ms: number[];
  audio_ms: number;
  audio_ctx: number;
  /** What the engine said (synthetic models: the same words for every turn). */
  text: string;
}

export interface FloorSettings {
  threads: number;
  reps: number;
  before_ms: number;
  after_ms: number;
}

export const floorSettings = (): FloorSettings => ({ threads: availableParallelism(), reps: REPS, before_ms: BEFORE_MS, after_ms: AFTER_MS });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The audio the floor decodes for one turn, zero-padded to MIN_SAMPLES. */
export function floorAudio(conv: Conversation, startMs: number, endMs: number): Float32Array {
  const at = (ms: number) => Math.max(0, Math.min(conv.samples.length, Math.round((ms / 1000) * SAMPLE_RATE)));
  const cut = conv.samples.subarray(at(startMs - BEFORE_MS), at(endMs + AFTER_MS));
  if (cut.length >= MIN_SAMPLES) return cut;
  const padded = new Float32Array(MIN_SAMPLES);
  padded.set(cut);
  return padded;
}

function decode(whisper: Whisper, pcm: Float32Array, language: string, threads: number): { ms: number; text: string; ctx: number } {
  const p = new WhisperFullParams(WhisperSamplingStrategy.Greedy);
  p.nThreads = threads;
  p.audioCtx = audioCtxFor(pcm.length, { enabled: true, floor: 128 });
  p.language = language;
  p.noContext = true;
  p.suppressNonSpeechTokens = true;
  p.printProgress = false;
  const t = performance.now();
  const text = whisper.full(p, pcm);
  return { ms: performance.now() - t, text: text.trim(), ctx: p.audioCtx };
}

/** Median of REPS decodes per turn, after one untimed warm-up (the first decode allocates). */
export function measureFloor(modelPath: string, conv: Conversation, onRow?: (row: FloorRow) => void): FloorRow[] {
  const { threads } = floorSettings();
  const whisper = new Whisper(modelPath);
  const first = conv.turns[0];
  if (first) decode(whisper, floorAudio(conv, first.start_ms, first.end_ms), first.language, threads);
  return conv.turns.map((turn) => {
    const pcm = floorAudio(conv, turn.start_ms, turn.end_ms);
    const runs = Array.from({ length: REPS }, () => decode(whisper, pcm, turn.language, threads));
    const row: FloorRow = {
      turn: turn.index,
      floor_ms: Math.round(median(runs.map((r) => r.ms))),
      runs_ms: runs.map((r) => Math.round(r.ms)),
      audio_ms: Math.round((pcm.length / SAMPLE_RATE) * 1000),
      audio_ctx: runs[0]!.ctx,
      text: runs[0]!.text,
    };
    onRow?.(row);
    return row;
  });
}
