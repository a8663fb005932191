/**
 * The synthetic models the stack runs (test/helpers/synthetic_model.ts): real base/tiny shapes, a
 * decoder that says a fixed sentence. The sentence ends with "." by default because the service's
 * end of turn is adaptive (sentence_end_ms after text that ends a sentence, end_of_turn_ms
 * otherwise) and a real Whisper model punctuates a finished utterance: unpunctuated synthetic text
 * would hold every turn to the longer wait. `--unpunctuated` measures that case.
 */
import { fixtureModel } from '../../test/helpers/fixtures.js';
import { syntheticModel, syntheticText } from '../../test/helpers/synthetic_model.js';

/** Decoded tokens per utterance, period included: a short sentence's worth of decode steps. */
export const TOKENS = 20;

export interface FeltModels {
  base: string;
  tiny: string;
  /** What both models say for any audio. */
  text: string;
}

/** The model's words as exact tokens (" word|..."), optionally closed by a "." token. */
function phrase(fixture: string, punctuated: boolean): string | number {
  if (!punctuated) return TOKENS;
  const words = syntheticText(fixture, TOKENS - 1).split(' ');
  return [...words.map((w) => ` ${w}`), '.'].join('|');
}

export function feltModels(punctuated: boolean): FeltModels {
  const say = phrase(fixtureModel('base'), punctuated);
  return {
    base: syntheticModel(fixtureModel('base'), say),
    tiny: syntheticModel(fixtureModel('tiny'), say),
    text: syntheticText(fixtureModel('base'), say),
  };
}
