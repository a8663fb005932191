/**
 * Where speech starts and ends in a clean source clip: from word timings when the fixture has
 * them, else from an energy detector. These are the "true" bounds felt latency is measured from.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SAMPLE_RATE } from '@vtuber-stt/core';

export interface Bounds {
  /** Seconds from the start of the clip. */
  start: number;
  end: number;
  from: 'words' | 'energy';
}

export interface Word {
  word: string;
  start: number;
  end: number;
}

/** `word<TAB>start_s<TAB>end_s` with a header line (picovoice-leopard/*.words.tsv). */
export function readWords(path: string): Word[] | undefined {
  if (!existsSync(path)) return undefined;
  const [, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  return lines.map((line) => {
    const [word, start, end] = line.split('\t');
    return { word: word!, start: Number(start), end: Number(end) };
  });
}

export const FRAME_MS = 10;
/**
 * A 10 ms frame is speech when its RMS is within this many dB of the clip's loudest frame. The
 * fixtures are clean studio or TTS recordings (room tone 50-70 dB below speech), so -35 dB keeps
 * soft word onsets and fricative tails while staying clear of the floor; on the two clips with
 * word timings it lands within a few frames of the aligner's bounds (checked by `--plan`).
 */
export const ENERGY_THRESHOLD_DB = -35;

/** First and last speech frame by energy, relative to the clip's peak (see ENERGY_THRESHOLD_DB). */
export function energyBounds(samples: Float32Array, thresholdDb = ENERGY_THRESHOLD_DB): Bounds {
  const frame = (SAMPLE_RATE * FRAME_MS) / 1000;
  const db: number[] = [];
  for (let i = 0; i + frame <= samples.length; i += frame) {
    let sum = 0;
    for (let j = i; j < i + frame; j++) sum += samples[j]! * samples[j]!;
    db.push(10 * Math.log10(sum / frame + 1e-12));
  }
  const peak = Math.max(...db);
  const loud = (d: number) => d >= peak + thresholdDb;
  const first = db.findIndex(loud);
  const last = db.length - 1 - [...db].reverse().findIndex(loud);
  if (first < 0) throw new Error('energyBounds: no frame above the threshold');
  return { start: (first * FRAME_MS) / 1000, end: ((last + 1) * FRAME_MS) / 1000, from: 'energy' };
}

/** Word timings win when present: an aligner knows where words are better than energy does. */
export function speechBounds(samples: Float32Array, words?: Word[]): Bounds {
  if (words && words.length > 0) return { start: words[0]!.start, end: words.at(-1)!.end, from: 'words' };
  return energyBounds(samples);
}
