import { deflateSync } from 'node:zlib';

/**
 * OpenAI's reference decoder calls a result a failed decode when its text compresses too well
 * (gzip ratio above 2.4): "the the the ..." or one sentence twenty times.
 */
export const MAX_COMPRESSION_RATIO = 2.4;

export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes).length;
}

export function loops(text: string): boolean {
  return compressionRatio(text) > MAX_COMPRESSION_RATIO;
}

/** Repeats of one unit past which the tail counts as a loop. */
const MIN_REPEATS = 3;

/**
 * The text with a repeated tail cut to its first occurrence ("a b c c c c" → "a b c"): units of
 * words where the text has spaces, else of characters (Korean without spaces, Japanese, ...).
 * Of all the loops at the end, the one that removes the most is cut.
 */
export function cutRepeatedTail(text: string): { text: string; cut: boolean } {
  const trimmed = text.trim();
  const words = trimmed.split(/\s+/);
  const units = words.length >= MIN_REPEATS * 2 ? words : [...trimmed];
  const joiner = units === words ? ' ' : '';
  const n = units.length;
  let best: { keep: number; removed: number } | undefined;
  for (let period = 1; period * MIN_REPEATS <= n; period++) {
    // Walk back from the end while each unit equals the one a period later.
    let start = n - period;
    while (start - period >= 0 && sameUnit(units, start - period, period)) start -= period;
    if ((n - start) / period < MIN_REPEATS) continue;
    const removed = n - start - period;
    if (!best || removed > best.removed) best = { keep: start + period, removed };
  }
  if (!best) return { text, cut: false };
  return { text: units.slice(0, best.keep).join(joiner), cut: true };
}

/** units[i, i+period) equals units[i+period, i+2*period). */
function sameUnit(units: readonly string[], i: number, period: number): boolean {
  for (let k = 0; k < period; k++) if (units[i + k] !== units[i + period + k]) return false;
  return true;
}

interface CuttableSegment {
  text: string;
  words?: { word: string }[];
}

/** The first `chars` non-space characters of `text`, with the spaces between them. */
function firstChars(text: string, chars: number): string {
  let seen = 0;
  let i = 0;
  for (; i < text.length && seen < chars; i++) if (!/\s/.test(text[i]!)) seen++;
  return text.slice(0, i).trim();
}

const bare = (text: string) => text.replace(/\s+/g, '');

/** Segments cut to the same text as `kept` (a cut of their joined text): the loop's segments go. */
export function cutSegments<S extends CuttableSegment>(segments: readonly S[], kept: string): S[] {
  const budget = bare(kept).length;
  const out: S[] = [];
  let used = 0;
  for (const s of segments) {
    if (used >= budget) break;
    const length = bare(s.text).length;
    if (used + length <= budget) {
      out.push(s);
      used += length;
      continue;
    }
    const left = budget - used;
    let wordChars = 0;
    const words = s.words?.filter((w) => (wordChars += bare(w.word).length) <= left);
    out.push({ ...s, text: firstChars(s.text, left), ...(words ? { words } : {}) });
    break;
  }
  return out;
}
