/**
 * Whether heard text repeats what the VTuber said: the text fallback of the `barge_in` policy
 * when no reference audio lets the echo canceller remove the VTuber's voice.
 *
 * The measure: the word edit distance between the heard text and the closest stretch of the
 * VTuber's line (approximate substring matching, Sellers 1980), over the heard words. A stretch
 * of the line heard through the room, even with a few words misheard, is close; the streamer's
 * own sentence is not, even when it shares many common words with a long line, since they would
 * have to stand together, in order, in the line. Words are compared folded (NFKC, lower case,
 * punctuation ignored); Chinese and Japanese, written without spaces, count each character as a
 * word.
 */

/** At most this share of the heard words may differ (misheard, left out, added) for an echo. */
export const ECHO_MAX_DISTANCE = 0.34;

const WORD = /[\p{L}\p{N}\p{M}']+/gu;
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
/** Each CJK character alone, or a run of anything else. */
const PIECE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|[^\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]+/gu;

/** The words of `text`, folded for comparison. */
export function echoWords(text: string): string[] {
  const words: string[] = [];
  for (const word of text.normalize('NFKC').toLowerCase().match(WORD) ?? []) {
    const w = word.replace(/^'+|'+$/g, '');
    if (w) words.push(...(UNSPACED.test(w) ? (w.match(PIECE) ?? []) : [w]));
  }
  return words;
}

/** Fewest word edits that turn `heard` into some contiguous stretch of `said`. */
export function stretchDistance(heard: readonly string[], said: readonly string[]): number {
  // One row per heard word; a stretch may start anywhere in `said` at no cost (row 0 is all zeros).
  let previous = new Array<number>(said.length + 1).fill(0);
  for (let i = 1; i <= heard.length; i++) {
    const row = new Array<number>(said.length + 1);
    row[0] = i;
    for (let j = 1; j <= said.length; j++) {
      const substitute = previous[j - 1]! + (heard[i - 1] === said[j - 1] ? 0 : 1);
      row[j] = Math.min(substitute, previous[j]! + 1, row[j - 1]! + 1);
    }
    previous = row;
  }
  return Math.min(...previous);
}

/**
 * Fewest heard words that may be called echo: one word ("okay", "thanks") is as likely the
 * streamer answering as a scrap of the line, and dropping the streamer's words is the worse mistake.
 */
export const ECHO_MIN_WORDS = 2;

/** Whether `heard` repeats a stretch of `said` (see above); text of fewer than ECHO_MIN_WORDS words repeats nothing. */
export function repeats(heard: string, said: string): boolean {
  const h = echoWords(heard);
  if (h.length < ECHO_MIN_WORDS) return false;
  return stretchDistance(h, echoWords(said)) <= Math.floor(h.length * ECHO_MAX_DISTANCE);
}
