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

/** One decode the service made: the audio it gave the engine (conversation ms), its context and language. */
export interface DecodedInput {
  turn: number;
  decoded_ms: [number, number];
  audio_ctx: number;
  language: string;
}

/** Pause before each same-input repetition: live, the engine has idled while the speaker talked. */
export const IDLE_BEFORE_MS = 1500;

export interface SameInputRow extends FloorRow {
  /** The same decode back to back (caches and clocks hot): what a tight loop would claim. */
  hot_ms: number;
}

/**
 * The same-input floor: the bare engine on exactly what the service decoded for each turn (its
 * trimmed span, encoder context and language), measured after the stack has stopped, each run
 * after IDLE_BEFORE_MS of idleness as live decodes are (measured here: a decode after 3 s idle
 * takes ~20 % longer than back to back). Against this, decode over floor shows what running
 * live costs, with the input and the engine's state held equal.
 */
export async function measureSameInput(modelPath: string, conv: Conversation, inputs: DecodedInput[]): Promise<SameInputRow[]> {
  const { threads } = floorSettings();
  const whisper = new Whisper(modelPath);
  const at = (ms: number) => Math.max(0, Math.min(conv.samples.length, Math.round((ms / 1000) * SAMPLE_RATE)));
  const audio = (i: DecodedInput) => {
    const cut = conv.samples.subarray(at(i.decoded_ms[0]), at(i.decoded_ms[1]));
    if (cut.length >= MIN_SAMPLES) return cut;
    const padded = new Float32Array(MIN_SAMPLES);
    padded.set(cut);
    return padded;
  };
  const run = (i: DecodedInput, pcm: Float32Array) => {
    const p = new WhisperFullParams(WhisperSamplingStrategy.Greedy);
    p.nThreads = threads;
    p.audioCtx = i.audio_ctx;
    p.language = i.language;
    p.noContext = true;
    p.suppressNonSpeechTokens = true;
    p.printProgress = false;
    const t = performance.now();
    const text = whisper.full(p, pcm);
    return { ms: performance.now() - t, text: text.trim() };
  };
  if (inputs[0]) run(inputs[0], audio(inputs[0]));
  const rows: SameInputRow[] = [];
  for (const i of inputs) {
    const pcm = audio(i);
    const runs: { ms: number; text: string }[] = [];
    for (let r = 0; r < REPS; r++) {
      await new Promise((resolve) => setTimeout(resolve, IDLE_BEFORE_MS));
      runs.push(run(i, pcm));
    }
    const hot = Array.from({ length: REPS }, () => run(i, pcm));
    rows.push({
      turn: i.turn,
      floor_ms: Math.round(median(runs.map((r) => r.ms))),
      hot_ms: Math.round(median(hot.map((r) => r.ms))),
      runs_ms: runs.map((r) => Math.round(r.ms)),
      audio_ms: Math.round((pcm.length / SAMPLE_RATE) * 1000),
      audio_ctx: i.audio_ctx,
      text: runs[0]!.text,
    });
  }
  return rows;
}
