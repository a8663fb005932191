import { SAMPLE_RATE } from '../audio/format.js';

/** Whisper's own window: audio longer than this is decoded in windows, each its own job. */
export const MAX_WINDOW_SAMPLES = 30 * SAMPLE_RATE;
/** A cut is placed at the quietest 20 ms within this much of a window's end, so no word is split. */
const SEARCH_SAMPLES = 5 * SAMPLE_RATE;
const FRAME = SAMPLE_RATE / 50;

/**
 * [start, end) spans of at most `max` samples covering `audio`, each cut at the quietest 20 ms
 * frame of its last seconds (one span when the audio fits in one window).
 */
export function windowsOf(audio: Float32Array, max = MAX_WINDOW_SAMPLES, search = Math.min(SEARCH_SAMPLES, Math.floor(max / 2))): [number, number][] {
  const spans: [number, number][] = [];
  let start = 0;
  while (audio.length - start > max) {
    let cut = start + max;
    let quietest = Infinity;
    for (let f = start + max - FRAME; f >= start + max - search; f -= FRAME) {
      let energy = 0;
      for (let i = f; i < f + FRAME; i++) energy += audio[i]! * audio[i]!;
      if (energy < quietest) {
        quietest = energy;
        cut = f + FRAME / 2;
      }
    }
    spans.push([start, cut]);
    start = cut;
  }
  spans.push([start, audio.length]);
  return spans;
}
