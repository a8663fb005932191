import { endsSentence } from './sentence_end.js';
import type { TurnSettings } from './settings.js';

/**
 * How long a pause must last to end a server turn: the one place that decides it. The long wait
 * (`end_of_turn_ms`) while the turn's text is unknown or unfinished; the short one
 * (`sentence_end_ms`) once a speculative decode taken in the pause says the text ends a sentence;
 * the long one again as soon as speech resumes (the pause was inside the turn).
 */
export class EndOfTurnPolicy {
  private sentenceEnded = false;

  constructor(private settings: TurnSettings) {}

  /** The silence (ms) that ends the turn now. */
  get silenceMs(): number {
    return this.sentenceEnded ? this.settings.sentenceEndMs : this.settings.endOfTurnMs;
  }

  /** The connection's turn settings changed (a config message). */
  configure(settings: TurnSettings): void {
    this.settings = settings;
  }

  /** Speech is heard: whatever the last pause's text said, the turn goes on. */
  speech(): void {
    this.sentenceEnded = false;
  }

  /** A speculative decode of the turn so far, taken during the pause. */
  speculated(text: string): void {
    this.sentenceEnded = text !== '' && endsSentence(text);
  }
}
