import { WINDOW } from './silero.js';

export interface SpeechSpan {
  /** First and last sample (exclusive) worth sending to Whisper. */
  start: number;
  end: number;
  speechWindows: number;
  /** The tail after the speech has fully arrived (the end is not cut short by the audio's end). */
  complete: boolean;
}

export interface SpeechGate {
  /** Probability at or above which a 32 ms window counts as speech. */
  threshold: number;
  /**
   * After the last speech window, windows at or above this still belong to it (the utterance
   * tracker's release threshold): Silero fades out over a soft last syllable.
   */
  release: number;
  /** Less speech than this in an utterance counts as none (a click, a breath). */
  minSpeechMs: number;
  /** Audio kept before the first speech window, so no syllable is clipped. */
  padMs: number;
  /**
   * Audio kept after the speech has faded out. Short: the fade already lasts 40-180 ms past the
   * last syllable (measured by bench:felt), whisper.cpp's encoder sees zeros beyond the input
   * anyway, and a speculative decode can only start once the tail has arrived (its input must
   * equal the final's), so every ms here is felt latency.
   */
  tailMs: number;
}

export const DEFAULT_SPEECH_GATE: SpeechGate = { threshold: 0.5, release: 0.3, minSpeechMs: 160, padMs: 300, tailMs: 64 };

const WINDOW_MS = (WINDOW / 16000) * 1000;

/**
 * Where the speech is in an utterance, from its per-window probabilities; undefined when there
 * is none. Trimming the silence around speech shortens what the encoder must see.
 */
export function findSpeech(probabilities: readonly number[], totalSamples: number, gate: SpeechGate): SpeechSpan | undefined {
  let first = -1;
  let last = -1;
  let count = 0;
  probabilities.forEach((p, i) => {
    if (p >= gate.threshold) {
      if (first < 0) first = i;
      last = i;
      count++;
    }
  });
  if (count === 0 || count * WINDOW_MS < gate.minSpeechMs) return undefined;
  while (last + 1 < probabilities.length && probabilities[last + 1]! >= gate.release) last++;
  const pad = Math.round((gate.padMs / 1000) * 16000);
  const tailEnd = (last + 1) * WINDOW + Math.round((gate.tailMs / 1000) * 16000);
  return {
    start: Math.max(0, first * WINDOW - pad),
    end: Math.min(totalSamples, tailEnd),
    complete: tailEnd <= totalSamples,
    speechWindows: count,
  };
}
