/**
 * A synthetic model (synthetic_model.ts) that tells two "languages" apart by what it hears: audio
 * carrying a high tone (`withKoreanMarker`) is identified as Korean and its text comes out in
 * Hangul; other audio is English, in the Latin words. Decoded in a given language, the text still
 * follows the audio (as a real Whisper forced into the wrong language gives text in the wrong
 * script), so a test can switch a session's language by what it sends.
 *
 * Patched into the synthetic model's zero weights: the encoder's first channel measures the mel
 * energy in the top bins (the tone), layer-normalised against a constant channel, and the first
 * decoder block's cross-attention (zero keys: a plain mean over the frames) carries its mean onto
 * a "Korean" axis next to a constant "English" one. Token embeddings read those axes: the Hangul
 * words and <|ko|> the Korean one, the Latin words and <|en|> the English one.
 *
 *   needs a multilingual fixture (tiny or base), at least one block a side
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { readVocabulary, syntheticModel, syntheticText, toHalf, type SyntheticShape } from './synthetic_model.js';

const RATE = 16000;
/** Decoder axes past the synthetic model's (targets and its language axis). */
const KO_AXIS = 40;
const EN_AXIS = 41;
/**
 * The top mel bins (of 80) the marker tone lands in, and the mel value (whisper's scale) above
 * which a frame counts as marked: the tone at 0.05 gives 0.70 there; speech clips' frames stay
 * below 0.15 (p90).
 */
const MARK_BINS = [78, 79];
const MARK_LEVEL = 0.4;
/** Mean layer-normalised marker over the frames (about 19 for an all-marked frame) above which the audio is Korean. */
const KO_THRESHOLD = 3;
const EN_TOKEN = 50259;
const KO_TOKEN = 50264;

interface Tensor {
  dims: number[];
  type: number;
  /** Byte offset of its data in the file. */
  at: number;
}

/** Tensor name -> where its data lies, and the vocabulary. */
function layout(b: Buffer, withTensors = true): { tensors: Map<string, Tensor>; vocab: string[] } {
  const read = readVocabulary(b);
  const vocab = read.vocab.map((t) => t.toString('utf8'));
  let o = read.end;
  const tensors = new Map<string, Tensor>();
  while (withTensors && o < b.length) {
    const nDims = b.readInt32LE(o);
    const nameLen = b.readInt32LE(o + 4);
    const type = b.readInt32LE(o + 8);
    const dims = Array.from({ length: nDims }, (_, i) => b.readInt32LE(o + 12 + 4 * i));
    const name = b.subarray(o + 12 + 4 * nDims, o + 12 + 4 * nDims + nameLen).toString();
    const at = o + 12 + 4 * nDims + nameLen;
    const n = dims.reduce((a, c) => a * c, 1);
    if (type !== 0 && type !== 1) throw new Error(`bilingual model: ${name} is not f32/f16`);
    tensors.set(name, { dims, type, at });
    o = at + n * (type === 0 ? 4 : 2);
  }
  return { tensors, vocab };
}

/** The synthetic model's K words, and K Hangul words as the Korean text. */
function hangulWords(vocab: string[], k: number): number[] {
  const ids: number[] = [];
  for (let id = 1000; id < vocab.length && ids.length < k; id++) if (/^ [\uac00-\ud7a3]{2,}$/u.test(vocab[id]!)) ids.push(id);
  if (ids.length < k) throw new Error('bilingual model: not enough Hangul tokens');
  return ids;
}

function patch(path: string, words: number): void {
  const b = Buffer.from(readFileSync(path));
  const { tensors, vocab } = layout(b);
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`bilingual model: no ${name}`);
    return t;
  };
  /** Sets element `index` (ggml order: the first dimension varies fastest). */
  const set = (name: string, index: number, v: number) => {
    const t = get(name);
    if (t.type === 0) b.writeFloatLE(v, t.at + 4 * index);
    else b.writeUInt16LE(toHalf(v), t.at + 2 * index);
  };
  const state = get('encoder.ln_post.weight').dims[0]!;
  const text = get('decoder.ln.weight').dims[0]!;
  const mels = get('encoder.conv1.weight').dims[1]!;
  const positions = get('encoder.positional_embedding').dims[1]!;
  // Encoder channel 0: sharp step on the mean mel of the marker bins (conv1 centre tap), passed
  // through conv2's centre tap; channel 1 a small constant, so layer norm keeps the step's size.
  const gain = 40;
  for (const bin of MARK_BINS) set('encoder.conv1.weight', 1 + 3 * (bin + mels * 0), gain / MARK_BINS.length);
  set('encoder.conv1.bias', 0, -gain * MARK_LEVEL);
  set('encoder.conv2.weight', 1 + 3 * (0 + state * 0), 1);
  for (let p = 0; p < positions; p++) set('encoder.positional_embedding', 1 + state * p, 0.5);
  // Decoder block 0 cross-attention: value = marker onto the Korean axis, a constant onto the English one.
  set('decoder.blocks.0.cross_attn.value.weight', 0 + state * KO_AXIS, 1);
  set('decoder.blocks.0.cross_attn.value.bias', EN_AXIS, KO_THRESHOLD);
  // Scaled below the step axes' 10, so the marker never outvotes the word due at a step.
  set('decoder.blocks.0.cross_attn.out.weight', KO_AXIS + text * KO_AXIS, 0.3);
  set('decoder.blocks.0.cross_attn.out.weight', EN_AXIS + text * EN_AXIS, 0.3);
  // Detection reads <|en|> and <|ko|> off those axes (the synthetic model's fixed pick of English goes).
  const lastTarget = words + 1;
  const langAxis = words + 2;
  set('decoder.positional_embedding', langAxis, 0);
  set('decoder.token_embedding.weight', langAxis + text * EN_TOKEN, 0);
  set('decoder.token_embedding.weight', EN_AXIS + text * EN_TOKEN, 1);
  set('decoder.token_embedding.weight', KO_AXIS + text * KO_TOKEN, 1);
  // Word j: the Latin one leans English, the Hangul one (same step axis) Korean.
  const hangul = hangulWords(vocab, words);
  for (let j = 1; j < lastTarget; j++) {
    const latin = latinIds(vocab, words)[j - 1]!;
    set('decoder.token_embedding.weight', EN_AXIS + text * latin, 1);
    set('decoder.token_embedding.weight', j + text * hangul[j - 1]!, 1);
    set('decoder.token_embedding.weight', KO_AXIS + text * hangul[j - 1]!, 1);
  }
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  writeSync(fd, b);
  closeSync(fd);
  renameSync(tmp, path);
}

/** The synthetic model's word ids, chosen as it chooses them. */
function latinIds(vocab: string[], k: number): number[] {
  const ids: number[] = [];
  for (let id = 1000; id < vocab.length && ids.length < k; id++) if (/^ [a-z]{3,}$/.test(vocab[id]!)) ids.push(id);
  return ids;
}

/** A cached bilingual model: `words` words a side. */
export function bilingualModel(fixture: string, words = 6, shape: SyntheticShape = { layers: 1 }): string {
  const base = syntheticModel(fixture, words, shape);
  const dir = join(tmpdir(), 'vtuber-stt-synthetic');
  mkdirSync(dir, { recursive: true });
  const key = createHash('sha1').update(basename(base)).update(readFileSync(new URL(import.meta.url))).digest('hex').slice(0, 12);
  const out = join(dir, `bilingual-${key}.bin`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.src`;
    copyFileSync(base, tmp);
    patch(tmp, words);
    renameSync(tmp, out);
  }
  return out;
}

/** What the bilingual model says in each language. */
export function bilingualText(fixture: string, words = 6): { en: string; ko: string } {
  const b = readFileSync(fixture);
  const { vocab } = layout(b, false);
  return { en: syntheticText(fixture, words), ko: hangulWords(vocab, words).map((id) => vocab[id]).join('').trim() };
}

/** `pcm` with the marker tone (7.6 kHz) mixed in where it has speech: heard as Korean. */
export function withKoreanMarker(pcm: Float32Array, level = 0.05): Float32Array {
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = pcm[i]! + level * Math.sin((2 * Math.PI * 7600 * i) / RATE);
  return out;
}
