import { describe, expect, it } from 'vitest';
import { echoWords, repeats } from '../src/turns/echo_text.js';

const LINE = "Thanks for the raid, everyone! Grab a snack and stay a while, we're playing until midnight.";

/** The text fallback's measure: heard words against the closest stretch of the VTuber's line. */
describe('echo text: does heard text repeat what the VTuber said', () => {
  it('a stretch of the line is echo, whatever its case and punctuation, with a word or two misheard', () => {
    expect(repeats('Grab a snack and stay a while.', LINE)).toBe(true);
    expect(repeats('THANKS FOR THE RAID EVERYONE', LINE)).toBe(true);
    // Whisper through a room: one word wrong, one left out, of six.
    expect(repeats('grab a snake and stay while', LINE)).toBe(true);
    expect(repeats('thanks for', LINE)).toBe(true);
  });

  it('one word is the streamer\'s (a "thanks" or an "okay" while the VTuber talks), even if the line has it', () => {
    expect(repeats('thanks', LINE)).toBe(false);
    expect(repeats('Okay.', 'Okay, let me read the chat.')).toBe(false);
  });

  it("the streamer's own words are not, even sharing many of the line's words, out of order or apart", () => {
    expect(repeats('what are we playing tonight', LINE)).toBe(false);
    expect(repeats('a snack for everyone until the raid', LINE)).toBe(false);
    expect(repeats('thank you', LINE)).toBe(false);
    expect(repeats('grab a snack and then tell me about your day', LINE)).toBe(false);
    expect(repeats('', LINE)).toBe(false);
    expect(repeats('...', LINE)).toBe(false);
  });

  it('Korean by its spaced words; Chinese and Japanese, written without spaces, by their characters', () => {
    expect(repeats('오늘 방송 와주셔서', '여러분 오늘 방송 와주셔서 고마워요!')).toBe(true);
    expect(repeats('내일 또 만나요', '여러분 오늘 방송 와주셔서 고마워요!')).toBe(false);
    expect(echoWords('今日は晴れ')).toEqual(['今', '日', 'は', '晴', 'れ']);
    expect(repeats('今日はいい天気', 'みなさん、今日はいい天気ですね！')).toBe(true);
    expect(repeats('明日また会おう', 'みなさん、今日はいい天気ですね！')).toBe(false);
  });
});
