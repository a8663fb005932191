/**
 * Phrases Whisper invents on silence, music and noise: subtitle credits and outros learned
 * from its training data. A transcript made only of these is dropped; speech that merely
 * contains them is kept.
 */
const OUTROS = [
  // English
  'thanks for watching',
  'thank you for watching',
  'thank you so much for watching',
  'thanks for watching and see you next time',
  'please subscribe',
  'please like and subscribe',
  'subscribe to my channel',
  'dont forget to like and subscribe',
  'see you in the next video',
  'see you next time',
  'subtitles by the amaraorg community',
  'transcription by castingwords',
  // Korean
  '시청해주셔서 감사합니다',
  '시청해 주셔서 감사합니다',
  '시청해주셔서 고맙습니다',
  '구독과 좋아요 부탁드립니다',
  '구독과 좋아요 눌러주세요',
  '다음 영상에서 만나요',
  '한글자막 by 한효정',
  'mbc 뉴스 이덕영입니다',
  // Japanese
  'ご視聴ありがとうございました',
  'ご視聴ありがとうございます',
  'チャンネル登録お願いします',
  'チャンネル登録よろしくお願いします',
  'おやすみなさい',
  // Chinese (Whisper drifts into it on noise even when asked for Korean)
  '请不吝点赞 订阅 转发 打赏支持明镜与点点栏目',
  '字幕由amaraorg社区提供',
  '谢谢观看',
];

/**
 * Short words a streamer really says, but that Whisper also produces from a breath or a click.
 * They are dropped only when the VAD heard little speech.
 */
const FILLERS = ['you', 'thank you', 'thanks', 'bye', 'okay', '감사합니다', '네', 'ありがとうございました', 'はい'];

/** Below this much detected speech, a filler-only transcript is taken for a hallucination. */
export const FILLER_SPEECH_MS = 600;

const ALWAYS = new Set(OUTROS.map(normalize));
const WEAK = new Set(FILLERS.map(normalize));

export function normalize(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKC')
    .replace(/[\p{P}\p{S}]+/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** True when every sentence of the text is a known hallucination (or there is no text). */
export function isHallucination(text: string, speechMs = Number.POSITIVE_INFINITY): boolean {
  const sentences = text
    .split(/(?<=[.!?])\s+|(?<=[。！？])|\n+/u)
    .map(normalize)
    .filter((s) => s.length > 0);
  if (sentences.length === 0) return true;
  const weakEvidence = speechMs < FILLER_SPEECH_MS;
  return sentences.every((s) => ALWAYS.has(s) || (weakEvidence && WEAK.has(s)));
}
