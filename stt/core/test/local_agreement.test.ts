import { describe, expect, it } from 'vitest';
import { LocalAgreement, splitUnits } from '../src/turns/local_agreement.js';

/** Feeds hypotheses in order; every step must keep the invariants a display relies on. */
function run(hypotheses: string[]): { stable: string; text: string }[] {
  const agreement = new LocalAgreement();
  const out: { stable: string; text: string }[] = [];
  for (const h of hypotheses) {
    const a = agreement.push(h);
    expect(a.text.startsWith(a.stable)).toBe(true);
    if (out.length) expect(a.stable.startsWith(out.at(-1)!.stable)).toBe(true);
    expect(agreement.stable).toBe(a.stable);
    out.push(a);
  }
  return out;
}

describe('LocalAgreement-2', () => {
  it('commits nothing from a single hypothesis, then the words two consecutive ones share', () => {
    const out = run([' I think we', ' I think we should go', ' I think we should go to the park']);
    expect(out[0]).toEqual({ stable: '', text: 'I think we' });
    expect(out[1]).toEqual({ stable: 'I think we', text: 'I think we should go' });
    expect(out[2]).toEqual({ stable: 'I think we should go', text: 'I think we should go to the park' });
  });

  it('stops at the first word the two disagree on, even when later words match again', () => {
    const out = run(['the cat sat on', 'the hat sat on the mat']);
    expect(out[1]).toEqual({ stable: 'the', text: 'the hat sat on the mat' });
  });

  it('never takes back a committed word: a later hypothesis that changes it is shown after it', () => {
    const out = run(['hello there friend', 'hello there friends', 'hallo there friends and more', 'hallo there friends and more']);
    expect(out[1]!.stable).toBe('hello there');
    // The third decode changed a committed word: the committed one stays, its own words follow by position.
    expect(out[2]).toEqual({ stable: 'hello there friends', text: 'hello there friends and more' });
    expect(out[3]).toEqual({ stable: 'hello there friends and more', text: 'hello there friends and more' });
  });

  it('keeps the stable prefix when a hypothesis is shorter or empty', () => {
    const out = run(['one two three', 'one two three four', 'one', '']);
    expect(out[1]!.stable).toBe('one two three');
    expect(out[2]).toEqual({ stable: 'one two three', text: 'one two three' });
    expect(out[3]).toEqual({ stable: 'one two three', text: 'one two three' });
  });

  it('treats punctuation as part of the word it touches', () => {
    const out = run(['Hello world', 'Hello world.', 'Hello world. How']);
    expect(out[1]!.stable).toBe('Hello');
    expect(out[2]!.stable).toBe('Hello world.');
  });

  it('counts each Han, Hiragana and Katakana character as a unit (no spaces in ja/zh)', () => {
    expect(splitUnits('今日はAIです。').map((u) => u.text)).toEqual(['今', '日', 'は', 'AI', 'で', 'す', '。']);
    expect(splitUnits('我们 去 公园').map((u) => u.text)).toEqual(['我', '们', '去', '公', '园']);
    const ja = run(['今日は天気', '今日は天気がいい', '今日は天気がいいですね']);
    expect(ja[1]).toEqual({ stable: '今日は天気', text: '今日は天気がいい' });
    expect(ja[2]!.stable).toBe('今日は天気がいい');
    const zh = run(['我们去公园', '我们去公司吧']);
    expect(zh[1]).toEqual({ stable: '我们去公', text: '我们去公司吧' });
  });

  it('keeps Korean words (spaced) whole', () => {
    const out = run(['오늘은 날씨가', '오늘은 날씨가 좋네요']);
    expect(out[1]).toEqual({ stable: '오늘은 날씨가', text: '오늘은 날씨가 좋네요' });
  });

  it('gives the text back exactly when its units are joined', () => {
    const text = ' Mixed 日本語 and  English, 한국어도.';
    expect(splitUnits(text).map((u) => u.lead + u.text).join('')).toBe(text.trimEnd());
  });
});
