import { describe, expect, it } from 'vitest';
import { compressionRatio, cutRepeatedTail, cutSegments, loops, MAX_WINDOW_SAMPLES, windowsOf } from '../src/index.js';

describe('the repetition-loop guard', () => {
  it('trips on text that compresses more than 2.4x, as OpenAI reference decoder does, and not on speech', () => {
    expect(loops(Array(30).fill('the').join(' '))).toBe(true);
    expect(loops('I like it. '.repeat(6))).toBe(true);
    expect(loops('네'.repeat(14))).toBe(true);
    expect(loops('And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.')).toBe(false);
    expect(loops('안녕하세요 여러분 오늘은 좋은 날입니다')).toBe(false);
    expect(compressionRatio('')).toBe(0);
  });

  it('cuts a repeated tail to its first occurrence: words, sentences, and characters without spaces', () => {
    expect(cutRepeatedTail('Hello world the the the the the the')).toEqual({ text: 'Hello world the', cut: true });
    expect(cutRepeatedTail('Okay. I like it. I like it. I like it. I like it.')).toEqual({ text: 'Okay. I like it.', cut: true });
    expect(cutRepeatedTail('네네네네네네네네')).toEqual({ text: '네', cut: true });
    expect(cutRepeatedTail('no loop in this one at all')).toEqual({ text: 'no loop in this one at all', cut: false });
  });

  it('cuts segments (and their words) to the kept text', () => {
    const segments = [
      { start_ms: 0, end_ms: 1000, text: 'Hello world', words: [{ word: 'Hello' }, { word: 'world' }] },
      { start_ms: 1000, end_ms: 2000, text: 'the the', words: [{ word: 'the' }, { word: 'the' }] },
      { start_ms: 2000, end_ms: 3000, text: 'the the' },
    ];
    expect(cutSegments(segments, 'Hello world the')).toEqual([segments[0], { ...segments[1], text: 'the', words: [{ word: 'the' }] }]);
  });
});

describe('long audio in windows', () => {
  it('keeps audio of one window whole', () => {
    expect(windowsOf(new Float32Array(MAX_WINDOW_SAMPLES))).toEqual([[0, MAX_WINDOW_SAMPLES]]);
  });

  it('cuts 120 s into windows of at most 30 s, each at the quietest moment of its last seconds', () => {
    const audio = new Float32Array(120 * 16000).map((_, i) => Math.sin(i / 3) * 0.5);
    // A pause at 27.5 s: the first cut belongs there, not at 30 s in the middle of a sound.
    audio.fill(0, 27.5 * 16000, 27.6 * 16000);
    const spans = windowsOf(audio);
    expect(spans.length).toBe(5);
    expect(spans[0]![1] / 16000).toBeGreaterThanOrEqual(27.5);
    expect(spans[0]![1] / 16000).toBeLessThanOrEqual(27.6);
    for (const [from, to] of spans) expect(to - from).toBeLessThanOrEqual(MAX_WINDOW_SAMPLES);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBe(spans[i - 1]![1]);
    expect(spans.at(-1)![1]).toBe(audio.length);
  });
});
