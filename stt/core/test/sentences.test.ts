import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sentencesOf } from '../src/text/sentences.mjs';
import { endsSentence } from '../src/turns/sentence_end.js';

// Words whose verdict the turn policy and the worker's word segments must share.
const ENDS = ['there.', 'really?', 'stop!', '"yes."', 'done.)', '끝。', '本当？', 'やめて！', '「はい。」'];
const RUNS_ON = ['so', 'well...', 'and…', 'e.g', 'U.S.A', '"quote"', '3.5', ''];

describe('one sentence-end rule', () => {
  it.each(ENDS)('%j ends a sentence', (word) => expect(endsSentence(word)).toBe(true));
  it.each(RUNS_ON)('%j does not', (word) => expect(endsSentence(word)).toBe(false));

  it('cuts word segments exactly where the turn policy sees a sentence end', () => {
    const words = [...ENDS, ...RUNS_ON].flatMap((w) => [w, 'next']);
    const pieces = words.map((text, i) => ({ start_ms: i * 100, end_ms: i * 100 + 80, text: ` ${text}` }));
    const segments = sentencesOf(pieces);
    const closedAfter = segments.map((s) => s.words?.at(-1)?.word);
    const expected = words.filter((w) => w.trim() !== '' && endsSentence(w));
    // Every segment but a trailing one closes on a word the rule accepts, and every such word closes one.
    expect(closedAfter.filter((w) => w !== 'next')).toEqual(expected);
    expect(segments.flatMap((s) => s.words ?? []).map((w) => w.word)).toEqual(words.filter((w) => w !== ''));
    expect(segments[0]).toMatchObject({ start_ms: 0, end_ms: 80, text: 'there.' });
  });

  it('is the rule the engine worker groups word times with (it defines none of its own)', () => {
    const worker = readFileSync(new URL('../src/engine/napi_worker.mjs', import.meta.url), 'utf8');
    expect(worker).toMatch(/import \{ sentencesOf \} from '\.\.\/text\/sentences\.mjs';/);
    expect(worker).not.toMatch(/function sentencesOf|SENTENCE_END/);
  });
});
