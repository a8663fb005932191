import { describe, expect, it } from 'vitest';
import { scriptOf, SessionLanguage } from '../src/turns/session_language.js';

describe("a session's language", () => {
  it("tells a text's script by most of its words, and nothing from too few letters or a tie", () => {
    expect(scriptOf('안녕하세요 여러분')).toBe('hangul');
    expect(scriptOf('Hello everyone')).toBe('latin');
    expect(scriptOf('오늘 stream 재밌다')).toBe('hangul');
    expect(scriptOf('今日はいい天気ですね')).toBe('kana');
    expect(scriptOf('今天天气很好')).toBe('han');
    expect(scriptOf('Привет всем')).toBe('cyrillic');
    expect(scriptOf('OK 123 !')).toBeUndefined();
    expect(scriptOf('hello 안녕')).toBeUndefined(); // a tie says nothing
  });

  it('keeps a language its text confirms, drops it at a switch, and then wants two in a row', () => {
    let on = true;
    const s = new SessionLanguage(() => on);
    s.identified('ko', '안녕하세요');
    expect(s.remembered).toBe('ko');
    expect(s.confirms('ko', '오늘 방송 시작합니다')).toBe(true);
    expect(s.confirms('ko', 'OK')).toBe(true); // too few letters to tell
    expect(s.confirms('ko', 'welcome back everyone')).toBe(false);
    expect(s.remembered).toBeUndefined();
    expect(s.last).toBe('ko');
    s.identified('en', 'welcome back everyone');
    expect(s.remembered).toBeUndefined();
    s.identified('en', 'thanks for the follow');
    expect(s.remembered).toBe('en');
    on = false;
    expect(s.remembered).toBeUndefined();
    expect(s.last).toBe('en');
  });

  it('does not keep a language whose identified text is in another script', () => {
    const s = new SessionLanguage();
    s.identified('en', '안녕하세요');
    expect(s.remembered).toBeUndefined();
    expect(s.last).toBe('en');
  });
});
