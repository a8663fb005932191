import { SAMPLE_RATE } from '../audio/format.js';

/** Whisper's encoder sees 1500 frames for 30 s: one frame per 20 ms of audio. */
export const FULL_AUDIO_CTX = 1500;
const SAMPLES_PER_FRAME = SAMPLE_RATE / 50;
/**
 * Headroom past the last sample, so the final word is not cut at the frame edge. whisper.cpp
 * warns that a context sized too tightly makes repetition loops more likely (its issue #1855
 * measured with 128); every result is guarded against loops and re-decoded in the full window
 * when one trips, so the default stays small for speed and is a setting (STT_AUDIO_CTX_MARGIN).
 */
export const DEFAULT_MARGIN_FRAMES = 16;
const STEP = 32;

export interface AudioCtxPolicy {
  enabled: boolean;
  /** Smallest context ever used: very short contexts degrade recognition. */
  floor: number;
  /** Frames past the audio's end; DEFAULT_MARGIN_FRAMES when absent. */
  margin?: number;
}

/**
 * Sizes the encoder to the utterance instead of the 30 s padding (measured: base, 5 s,
 * 2244 ms padded vs 374 ms at 256). Never smaller than the audio, or whisper.cpp would
 * silently ignore the tail; 0 (full window) past 30 s, where whisper slides its own window.
 */
export function audioCtxFor(samples: number, policy: AudioCtxPolicy): number {
  if (!policy.enabled) return 0;
  const frames = Math.ceil(samples / SAMPLES_PER_FRAME) + (policy.margin ?? DEFAULT_MARGIN_FRAMES);
  const ctx = Math.max(policy.floor, Math.ceil(frames / STEP) * STEP);
  return ctx >= FULL_AUDIO_CTX ? 0 : ctx;
}
