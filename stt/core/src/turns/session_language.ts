/**
 * A session's language in `auto`: identifying each utterance costs an encoder pass of its own,
 * and a streamer mostly keeps to one language. Once an utterance was identified and its text came
 * out in that language's script, the next utterances decode in it without identifying; a final
 * whose text is in another script drops it (and is decoded again in `auto`), so the next
 * utterance identifies afresh. @napi-rs/whisper does not expose whisper.cpp's language
 * probability, so the text's script is the confidence: identification and decode agreeing.
 */
export type Script = 'latin' | 'hangul' | 'kana' | 'han' | 'cyrillic' | 'arabic' | 'hebrew' | 'greek' | 'thai' | 'devanagari';

const SCRIPTS: [Script, RegExp][] = [
  ['hangul', /[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]/u],
  ['kana', /[\u3040-\u30ff]/u],
  ['han', /\p{Script=Han}/u],
  ['latin', /\p{Script=Latin}/u],
  ['cyrillic', /\p{Script=Cyrillic}/u],
  ['arabic', /\p{Script=Arabic}/u],
  ['hebrew', /\p{Script=Hebrew}/u],
  ['greek', /\p{Script=Greek}/u],
  ['thai', /\p{Script=Thai}/u],
  ['devanagari', /\p{Script=Devanagari}/u],
];

/** Languages whose text is written in one script (Japanese mixes kana and han: kana decides). */
const EXPECTED: Record<string, Script> = {
  ko: 'hangul', ja: 'kana', zh: 'han', yue: 'han', ru: 'cyrillic', uk: 'cyrillic', bg: 'cyrillic', sr: 'cyrillic', be: 'cyrillic', mk: 'cyrillic', kk: 'cyrillic', mn: 'cyrillic',
  ar: 'arabic', fa: 'arabic', ur: 'arabic', he: 'hebrew', yi: 'hebrew', el: 'greek', th: 'thai', hi: 'devanagari', mr: 'devanagari', ne: 'devanagari',
  en: 'latin', es: 'latin', fr: 'latin', de: 'latin', it: 'latin', pt: 'latin', nl: 'latin', pl: 'latin', tr: 'latin', sv: 'latin', id: 'latin', vi: 'latin',
  cs: 'latin', ro: 'latin', da: 'latin', fi: 'latin', hu: 'latin', no: 'latin', ms: 'latin', tl: 'latin', ca: 'latin', sk: 'latin', hr: 'latin', lt: 'latin', sl: 'latin', lv: 'latin', et: 'latin',
};

/** Fewer letters than this say nothing about the script (a name, "OK", a number). */
const MIN_LETTERS = 3;

/** The script most of a word's letters are written in (Japanese: kana, however much han it has). */
function scriptOfWord(word: string): { script?: Script; letters: number } {
  const counts = new Map<Script, number>();
  let letters = 0;
  for (const ch of word) {
    if (!/\p{L}/u.test(ch)) continue;
    letters++;
    const found = SCRIPTS.find(([, re]) => re.test(ch));
    if (found) counts.set(found[0], (counts.get(found[0]) ?? 0) + 1);
  }
  const kana = counts.get('kana') ?? 0;
  if (kana > 0 && kana + (counts.get('han') ?? 0) >= letters / 2) return { script: 'kana', letters };
  let best: Script | undefined;
  for (const [script, n] of counts) if (!best || n > counts.get(best)!) best = script;
  return { script: best, letters };
}

/**
 * The script most of the text's words are written in; undefined when too few letters or a tie.
 * Words, not letters: a Korean sentence with an English word in it ("오늘 stream 재밌다") has
 * more Latin letters than Hangul syllables, but is Korean.
 */
export function scriptOf(text: string): Script | undefined {
  const votes = new Map<Script, number>();
  let letters = 0;
  for (const word of text.split(/\s+/u)) {
    const w = scriptOfWord(word);
    letters += w.letters;
    if (w.script) votes.set(w.script, (votes.get(w.script) ?? 0) + 1);
  }
  if (letters < MIN_LETTERS) return undefined;
  const ranked = [...votes].sort((a, b) => b[1] - a[1]);
  if (!ranked[0] || ranked[1]?.[1] === ranked[0][1]) return undefined;
  return ranked[0][0];
}

/** Whether `text` is written in `language`'s script; undefined when the language or the text says nothing of it. */
export function fitsScript(language: string, text: string): boolean | undefined {
  const expected = EXPECTED[language];
  if (!expected) return undefined;
  const script = scriptOf(text);
  return script === undefined ? undefined : script === expected;
}

export class SessionLanguage {
  /** Identified and confirmed by its text: utterances may decode in it without identifying. */
  private kept?: string;
  /** The last language identified, confirmed or not: what a shed language check falls back to. */
  private lastSeen?: string;
  /** Identified utterances in a row in `lastSeen` whose text fit it. */
  private streak = 0;
  /**
   * How many of those it takes to keep the language: one at first; two once the speaker has
   * switched, because a speaker who switches often costs a wasted decode at every switch (the
   * decode in the remembered language, then the right one): with two, one who alternates
   * identifies each utterance, as without memory (`npm run bench:language`).
   */
  private needed = 1;

  /** `enabled`: the setting (read each time: a connection's settings may change). */
  constructor(private readonly enabled: () => boolean = () => true) {}

  /** The language to decode in without identifying, if any. */
  get remembered(): string | undefined {
    return this.enabled() ? this.kept : undefined;
  }

  /** The last language identified in this session (for a shed check). */
  get last(): string | undefined {
    return this.kept ?? this.lastSeen;
  }

  /** An utterance's language was identified (its check, or a decode in `auto`) and its final's text came back. */
  identified(language: string, text: string): void {
    const fits = fitsScript(language, text);
    if (fits === undefined) return;
    this.streak = fits && language === this.lastSeen ? this.streak + 1 : fits ? 1 : 0;
    this.lastSeen = language;
    if (!fits) this.kept = undefined;
    else if (this.streak >= this.needed) this.kept = language;
    else if (language !== this.kept) this.kept = undefined;
  }

  /**
   * An utterance decoded in a language it was not identified in (remembered or shed): whether
   * its text fits. False drops the memory: the utterance is decoded again, the next identifies.
   */
  confirms(language: string, text: string): boolean {
    if (fitsScript(language, text) !== false) return true;
    this.kept = undefined;
    this.streak = 0;
    this.needed = 2;
    return false;
  }
}
