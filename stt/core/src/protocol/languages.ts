/**
 * The languages Whisper knows (whisper.cpp's table, large-v3 included): ISO 639-1 codes, plus
 * `haw` (Hawaiian) and `yue` (Cantonese), which have none. Every surface that takes a language
 * (the WebSocket config, REST, OpenAI's routes, realtime sessions) checks against this one list,
 * so an unknown code is refused by name instead of reaching the decoder.
 */
export const WHISPER_LANGUAGES = [
  'en', 'zh', 'de', 'es', 'ru', 'ko', 'fr', 'ja', 'pt', 'tr', 'pl', 'ca', 'nl', 'ar', 'sv', 'it', 'id', 'hi', 'fi', 'vi',
  'he', 'uk', 'el', 'ms', 'cs', 'ro', 'da', 'hu', 'ta', 'no', 'th', 'ur', 'hr', 'bg', 'lt', 'la', 'mi', 'ml', 'cy', 'sk',
  'te', 'fa', 'lv', 'bn', 'sr', 'az', 'sl', 'kn', 'et', 'mk', 'br', 'eu', 'is', 'hy', 'ne', 'mn', 'bs', 'kk', 'sq', 'sw',
  'gl', 'mr', 'pa', 'si', 'km', 'sn', 'yo', 'so', 'af', 'oc', 'ka', 'be', 'tg', 'sd', 'gu', 'am', 'yi', 'lo', 'uz', 'fo',
  'ht', 'ps', 'tk', 'nn', 'mt', 'sa', 'lb', 'my', 'bo', 'tl', 'mg', 'as', 'tt', 'haw', 'ln', 'ha', 'ba', 'jw', 'su', 'yue',
] as const;

export type WhisperLanguage = (typeof WHISPER_LANGUAGES)[number];

const KNOWN = new Set<string>(WHISPER_LANGUAGES);

/** A language code Whisper can be told to use (lower case, trimmed), or `auto` for detection. */
export function isWhisperLanguage(code: string): boolean {
  return code === 'auto' || KNOWN.has(code);
}

/** Why `code` is refused, for an error naming the parameter that carried it. */
export function unknownLanguageMessage(code: string, param = 'language'): string {
  return `${param} must be "auto" or a language Whisper knows, as an ISO 639-1 code such as "en" or "ko" (got "${code}")`;
}
