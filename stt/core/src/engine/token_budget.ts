import { SAMPLE_RATE } from '../audio/format.js';

/**
 * Speech carries at most about 15 tokens a second (fast Korean, a byte-level BPE syllable or two
 * each; English runs nearer 5), so a decode that keeps going far past that is looping. whisper.cpp
 * otherwise runs a loop to half its text context (about 220 tokens) at each of its six fallback
 * temperatures: 14 s of tiny-model work on this machine for 2 s of audio. The budget is generous
 * (25 a second, plus room for timestamps and a short word) so real speech never meets it.
 */
const TOKENS_PER_SECOND = 25;
const BASE_TOKENS = 32;

/** The most tokens a segment of this much audio may decode. */
export function tokenBudgetFor(samples: number): number {
  return BASE_TOKENS + Math.ceil((samples / SAMPLE_RATE) * TOKENS_PER_SECOND);
}
