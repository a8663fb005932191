/** Closing quotes and brackets may follow the mark: `He said "yes."` still ends a sentence. */
const SENTENCE_END = /[.?!。？！…]["'”’)\]」』]*$/u;

/**
 * Whether text ends a sentence, so a turn may end after a shorter silence. An ellipsis is
 * trailing off, not ending: it keeps the longer wait (RealtimeSTT waits even longer after "...").
 */
export function endsSentence(text: string): boolean {
  const t = text.trim();
  if (t.endsWith('...') || t.endsWith('…')) return false;
  return SENTENCE_END.test(t);
}
