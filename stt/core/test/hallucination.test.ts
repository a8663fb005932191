import { describe, expect, it } from 'vitest';
import { isHallucination } from '../src/index.js';

describe('hallucination filter', () => {
  it.each([
    'Thanks for watching!',
    ' Thank you for watching. Please subscribe.',
    '시청해주셔서 감사합니다.',
    '구독과 좋아요 부탁드립니다!',
    'ご視聴ありがとうございました',
    'Subtitles by the Amara.org community',
    '',
    '   ...  ',
  ])('drops %j', (text) => {
    expect(isHallucination(text)).toBe(true);
  });

  it.each(['Thanks for watching the stream with me, chat, what game next?', '오늘 방송 시청해주셔서 감사합니다 여러분 내일 봐요', 'Ask not what your country can do for you'])(
    'keeps real speech that contains such words: %j',
    (text) => {
      expect(isHallucination(text)).toBe(false);
    },
  );

  it('drops bare fillers only when the VAD heard little speech', () => {
    expect(isHallucination('Thank you.', 200)).toBe(true);
    expect(isHallucination('감사합니다', 300)).toBe(true);
    expect(isHallucination('Thank you.', 1500)).toBe(false);
    expect(isHallucination('감사합니다', 2000)).toBe(false);
  });
});
