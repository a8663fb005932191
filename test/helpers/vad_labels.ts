import { existsSync, readFileSync } from 'node:fs';
import { audioPath } from './fixtures.js';

export interface Interval {
  start: number; // seconds
  end: number;
}

/** Labelled speech intervals beside a clip (`.vad.tsv`), if any. */
export function vadIntervals(clip: string): Interval[] | undefined {
  const path = audioPath(clip.replace(/\.wav$/, '.vad.tsv'));
  if (!existsSync(path)) return undefined;
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [s, e] = line.split('\t');
      return { start: Number(s), end: Number(e) };
    });
}

/**
 * Clips whose labels live in another file: LONG_michaelandsickmichael.wav is acoustic_corpus.wav
 * followed by cold_corpus.wav, so its first labelled interval is acoustic_corpus's onset (the clip
 * opens with a loud click that fools an energy onset).
 */
const DERIVED_ONSETS: Record<string, number> = { 'mfa/acoustic_corpus.wav': 1.059 };

/** The first word's start (`.words.tsv`) or first labelled interval, in seconds. */
export function labelledOnset(clip: string): number | undefined {
  if (clip in DERIVED_ONSETS) return DERIVED_ONSETS[clip];
  const words = audioPath(clip.replace(/\.wav$/, '.words.tsv'));
  if (existsSync(words)) return Number(readFileSync(words, 'utf8').trim().split('\n')[1]!.split('\t')[1]);
  return vadIntervals(clip)?.[0]?.start;
}

/**
 * Where speech starts in a clip with no labels: the first 32 ms window well above the clip's
 * quietest tenth and within 25 dB of its loud parts. A reference for "detected within the first second", not a detector.
 */
export function energyOnset(samples: Float32Array): number {
  const win = 512;
  const levels: number[] = [];
  for (let i = 0; i + win <= samples.length; i += win) {
    let sum = 0;
    for (let j = i; j < i + win; j++) sum += samples[j]! * samples[j]!;
    levels.push(10 * Math.log10(sum / win + 1e-12));
  }
  const sorted = [...levels].sort((a, b) => a - b);
  const floor = sorted[Math.floor(levels.length / 10)]!;
  const peak = sorted[Math.floor(levels.length * 0.95)]!;
  const first = levels.findIndex((l) => l > Math.max(floor + 20, peak - 25, -50));
  return first < 0 ? 0 : (first * win) / 16000;
}

/** Frame-level F1 of per-window decisions against labelled intervals, over the labelled span only. */
export function frameF1(decisions: boolean[], labels: Interval[], labelledSeconds: number, windowS = 0.032) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  decisions.forEach((speech, i) => {
    const center = (i + 0.5) * windowS;
    if (center > labelledSeconds) return;
    const truth = labels.some((l) => center >= l.start && center < l.end);
    if (speech && truth) tp++;
    else if (speech) fp++;
    else if (truth) fn++;
  });
  const precision = tp / Math.max(1, tp + fp);
  const recall = tp / Math.max(1, tp + fn);
  return { precision, recall, f1: (2 * precision * recall) / Math.max(1e-9, precision + recall) };
}
