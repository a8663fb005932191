/**
 * LocalAgreement-2 (whisper_streaming, Macháček et al. 2023) over whole re-decodes of a growing
 * utterance: a word is stable once two consecutive hypotheses agree on it and on everything
 * before it. What is stable stays stable, so a display built from it does not flicker; the rest
 * of the newest hypothesis is shown after it as the part that may still change.
 *
 * Units are whitespace-separated words, except that Han, Hiragana and Katakana characters (and
 * CJK punctuation) count one each: Chinese and Japanese put no spaces between words.
 */

/** One unit as it appeared: the whitespace before it and its text. */
interface Unit {
  lead: string;
  text: string;
}

export interface Agreement {
  /** The committed prefix: only ever grows. */
  stable: string;
  /** The whole hypothesis as shown: `stable` followed by the newest words not yet agreed on. */
  text: string;
}

/** A character that forms a unit of its own. */
const SINGLE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u3000-\u303f\u30fc\uff00-\uffef]/u;

/** Splits text into units, keeping the whitespace before each so that joining them gives the text back. */
export function splitUnits(text: string): Unit[] {
  const units: Unit[] = [];
  let lead = '';
  let word = '';
  const endWord = () => {
    if (!word) return;
    units.push({ lead, text: word });
    lead = '';
    word = '';
  };
  for (const ch of text) {
    if (/\s/u.test(ch)) {
      endWord();
      lead += ch;
    } else if (SINGLE.test(ch)) {
      endWord();
      units.push({ lead, text: ch });
      lead = '';
    } else word += ch;
  }
  endWord();
  return units;
}

const render = (units: readonly Unit[]) => units.map((u) => u.lead + u.text).join('');

function commonPrefix(a: readonly Unit[], b: readonly Unit[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n]!.text === b[n]!.text) n++;
  return n;
}

/**
 * One utterance's agreement. Each hypothesis is aligned word by word with the committed prefix
 * (a decode of more audio rarely changes what it already said; when it does, the committed words
 * win and the rest of the hypothesis follows them).
 */
export class LocalAgreement {
  private committed: Unit[] = [];
  private previous?: Unit[];

  /** Feeds the newest whole-utterance hypothesis; returns what to show. */
  push(hypothesis: string): Agreement {
    const shown = [...this.committed, ...splitUnits(hypothesis.trim()).slice(this.committed.length)];
    if (this.previous) {
      const agreed = commonPrefix(this.previous, shown);
      if (agreed > this.committed.length) this.committed = shown.slice(0, agreed);
    }
    this.previous = shown;
    const stable = render(this.committed).trimStart();
    // The lead of the first unit is dropped from both, so `text` still starts with `stable`.
    return { stable, text: render(shown).trimStart() };
  }

  /** The committed prefix so far. */
  get stable(): string {
    return render(this.committed).trimStart();
  }
}
