// The rule lives in a plain module the engine worker can load too: one rule for turns and segments.
export { endsSentence } from '../text/sentences.mjs';
