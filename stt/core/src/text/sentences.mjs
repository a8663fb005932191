// Where a sentence ends: one rule for the turn policy (turns/sentence_end.ts) and for the engine
// worker that groups word times into sentence segments (engine/napi_worker.mjs). Plain JavaScript
// with no imports, because the worker thread runs without a TypeScript loader. Types: sentences.d.mts.

/** Closing quotes and brackets may follow the mark: `He said "yes."` still ends a sentence. */
const SENTENCE_END = /[.?!。？！…]["'”’)\]」』]*$/u;

/**
 * Whether text ends a sentence. An ellipsis is trailing off, not ending: a turn keeps the longer
 * wait after it (RealtimeSTT waits even longer after "..."), and a word segment runs on past it.
 */
export function endsSentence(text) {
  const t = text.trim();
  if (t.endsWith('...') || t.endsWith('…')) return false;
  return SENTENCE_END.test(t);
}

/** whisper.cpp's word-level pieces (one word each) back into sentence segments, each carrying its words. */
export function sentencesOf(pieces) {
  const segments = [];
  let words = [];
  const close = () => {
    if (words.length === 0) return;
    segments.push({ start_ms: words[0].start_ms, end_ms: words.at(-1).end_ms, text: words.map((w) => w.word).join(' '), words });
    words = [];
  };
  for (const p of pieces) {
    const word = p.text.trim();
    if (!word) continue;
    words.push({ word, start_ms: p.start_ms, end_ms: Math.max(p.start_ms, p.end_ms) });
    if (endsSentence(word)) close();
  }
  close();
  return segments;
}
