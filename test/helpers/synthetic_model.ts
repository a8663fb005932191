/**
 * Writes a complete whisper.cpp ggml model with designed weights, from a fixture header (real
 * hyper-parameters, mel filters and vocabulary). Every transformer block is zero, so the
 * residual stream carries only token and position embeddings; those are laid out so that decode
 * step j emits target[j]: <|0.00|>, the chosen words, end-of-text (one segment per window). The
 * encoder still computes in full, so timings are real and the decode length is exactly known.
 * The words are K distinct vocabulary words, or an exact phrase (to test hallucination filtering).
 *
 *   node --import tsx test/helpers/synthetic_model.ts <fixture.bin> <out.bin> [K | " token| by| token"]
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

interface Header {
  bytes: Buffer; // magic..vocab, copied as is
  nVocab: number;
  audioCtx: number;
  audioState: number;
  audioLayers: number;
  textCtx: number;
  textState: number;
  textLayers: number;
  mels: number;
  ftype: number;
  vocab: Buffer[];
}

/** A ggml whisper file's vocabulary (after its hyperparameters and mel filters), and where its tensors start. */
export function readVocabulary(b: Buffer): { vocab: Buffer[]; end: number } {
  let o = 48;
  const nMel = b.readInt32LE(o);
  const nFft = b.readInt32LE(o + 4);
  o += 8 + 4 * nMel * nFft;
  const count = b.readInt32LE(o);
  o += 4;
  const vocab: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const len = b.readUInt32LE(o);
    vocab.push(b.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
  return { vocab, end: o };
}

function readHeader(path: string): Header {
  const b = readFileSync(path);
  if (b.readUInt32LE(0) !== 0x67676d6c) throw new Error(`${path} is not a ggml whisper model`);
  const h = (i: number) => b.readInt32LE(4 + 4 * i);
  const { vocab, end: o } = readVocabulary(b);
  return {
    bytes: b.subarray(0, o),
    nVocab: h(0),
    audioCtx: h(1),
    audioState: h(2),
    audioLayers: h(4),
    textCtx: h(5),
    textState: h(6),
    textLayers: h(8),
    mels: h(9),
    ftype: h(10),
    vocab,
  };
}

/** Special token ids as whisper.cpp assigns them (English-only models sit one lower). */
function specials(nVocab: number) {
  const multilingual = nVocab >= 51865;
  const shift = multilingual ? 0 : -1;
  return { multilingual, eot: 50257 + shift, beg: 50364 + shift, promptLength: multilingual ? 3 : 1 };
}

/** A number as IEEE half-precision bits (normal range only: what the synthetic weights use). */
export function toHalf(v: number): number {
  if (v === 0) return 0;
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = (x >>> 13) & 0x3ff;
  return sign | (exp << 10) | mant;
}

class Writer {
  private fd: number;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(b: Buffer) {
    writeSync(this.fd, b);
  }
  zeros(n: number) {
    const chunk = Buffer.alloc(Math.min(n, 1 << 22));
    for (let left = n; left > 0; left -= chunk.length) this.write(left >= chunk.length ? chunk : chunk.subarray(0, left));
  }
  close() {
    closeSync(this.fd);
  }
}

const F32 = 0;
const F16 = 1;
/** ggml tensor types of the quantized blocks whisper.cpp's quantize tool writes (ggml.h). */
const Q5_1 = 7;
const Q8_0 = 8;

/**
 * Weight types: how `quantize` stores the 2-D matrices (every 1-D tensor, the conv kernels and the
 * positional embeddings stay as they were). Blocks of 32 weights (ggml-common.h):
 * q8_0 = fp16 d + 32 int8 (w = d*q); q5_1 = fp16 d, fp16 m, uint32 of 5th bits, 16 bytes of
 * nibbles (w = d*q + m). An all-zero block is exactly zero in both.
 */
export type WeightType = 'f16' | 'q8_0' | 'q5_1';
const QUANT = {
  q8_0: { type: Q8_0, blockBytes: 34, ftype: 7 },
  q5_1: { type: Q5_1, blockBytes: 24, ftype: 9 },
} as const;
/** whisper.cpp stores a quantized model's ftype as GGML_QNT_VERSION * 1000 + ftype. */
const GGML_QNT_VERSION = 2;

function bytesOf(type: number, n: number): number {
  if (type === F32) return 4 * n;
  if (type === F16) return 2 * n;
  const q = type === Q8_0 ? QUANT.q8_0 : QUANT.q5_1;
  return (n / 32) * q.blockBytes;
}

/** Writes weight 1.0 at element `index` of a row-major tensor of `type` (all else zero): exact in every type. */
function putOne(data: Buffer, type: number, index: number): void {
  if (type === F32) return void data.writeFloatLE(1, 4 * index);
  if (type === F16) return void data.writeUInt16LE(toHalf(1), 2 * index);
  const block = Math.floor(index / 32);
  const e = index % 32;
  if (type === Q8_0) {
    const at = block * QUANT.q8_0.blockBytes;
    data.writeUInt16LE(toHalf(1), at); // d = 1
    data.writeInt8(1, at + 2 + e); // q = 1
    return;
  }
  const at = block * QUANT.q5_1.blockBytes;
  data.writeUInt16LE(toHalf(1), at); // d = 1, m = 0
  data[at + 8 + (e % 16)]! |= e < 16 ? 0x01 : 0x10; // low nibble: elements 0..15, high: 16..31
}

/** K distinct plain words (never suppressed as non-speech), or an exact phrase given as tokens: `" Thanks| for| watching|!"`. */
function chooseWords(h: Header, say: number | string): number[] {
  if (typeof say === 'string') {
    return say.split('|').map((piece) => {
      const id = h.vocab.findIndex((t) => t.toString('utf8') === piece);
      if (id < 0) throw new Error(`"${piece}" is not one token in this vocabulary`);
      return id;
    });
  }
  const words: number[] = [];
  for (let id = 1000; id < h.vocab.length && words.length < say; id++) {
    if (/^ [a-z]{3,}$/.test(h.vocab[id]!.toString('latin1'))) words.push(id);
  }
  return words;
}

/**
 * `layers`: transformer blocks per side (default: the fixture's). Every block is zero, so fewer
 * change no output, only the encoder's and decoder's compute: tests that time nothing use one.
 */
export interface SyntheticShape {
  layers?: number;
  /** How the 2-D weight matrices are stored (default: the fixture's float type). */
  weights?: WeightType;
}

export function writeSyntheticModel(fixture: string, out: string, say: number | string = 20, shape: SyntheticShape = {}): void {
  const h = readHeader(fixture);
  if (shape.layers !== undefined) {
    h.bytes = Buffer.from(h.bytes);
    h.bytes.writeInt32LE(shape.layers, 4 + 4 * 4);
    h.bytes.writeInt32LE(shape.layers, 4 + 4 * 8);
    h.audioLayers = h.textLayers = shape.layers;
  }
  const quant = shape.weights && shape.weights !== 'f16' ? QUANT[shape.weights] : undefined;
  if (quant) {
    h.bytes = Buffer.from(h.bytes);
    h.bytes.writeInt32LE(GGML_QNT_VERSION * 1000 + quant.ftype, 4 + 4 * 10);
  }
  const { eot, beg, promptLength, multilingual } = specials(h.nVocab);
  const wtype = quant ? quant.type : h.ftype === 0 ? F32 : F16;
  const words = chooseWords(h, say);
  const targets = [beg, ...words, eot];
  if (targets.length + 1 > h.textState) throw new Error('too many tokens for this model width');

  const tmp = `${out}.${process.pid}.tmp`;
  const w = new Writer(tmp);
  w.write(h.bytes);
  const tensor = (name: string, dims: number[], type: number, fill?: (data: Buffer, type: number) => void) => {
    const head = Buffer.alloc(12 + 4 * dims.length);
    head.writeInt32LE(dims.length, 0);
    head.writeInt32LE(Buffer.byteLength(name), 4);
    head.writeInt32LE(type, 8);
    dims.forEach((d, i) => head.writeInt32LE(d, 12 + 4 * i));
    w.write(head);
    w.write(Buffer.from(name));
    const bytes = bytesOf(type, dims.reduce((a, b) => a * b, 1));
    if (!fill) return w.zeros(bytes);
    const data = Buffer.alloc(bytes);
    fill(data, type);
    w.write(data);
  };
  const ones = (data: Buffer) => {
    for (let i = 0; i < data.length; i += 4) data.writeFloatLE(1, i);
  };
  const block = (prefix: string, state: number, cross: boolean) => {
    const ln = (n: string) => {
      tensor(`${prefix}.${n}.weight`, [state], F32, ones);
      tensor(`${prefix}.${n}.bias`, [state], F32);
    };
    const attn = (n: string) => {
      tensor(`${prefix}.${n}.query.weight`, [state, state], wtype);
      tensor(`${prefix}.${n}.query.bias`, [state], F32);
      tensor(`${prefix}.${n}.key.weight`, [state, state], wtype);
      tensor(`${prefix}.${n}.value.weight`, [state, state], wtype);
      tensor(`${prefix}.${n}.value.bias`, [state], F32);
      tensor(`${prefix}.${n}.out.weight`, [state, state], wtype);
      tensor(`${prefix}.${n}.out.bias`, [state], F32);
    };
    ln('mlp_ln');
    tensor(`${prefix}.mlp.0.weight`, [state, 4 * state], wtype);
    tensor(`${prefix}.mlp.0.bias`, [4 * state], F32);
    tensor(`${prefix}.mlp.2.weight`, [4 * state, state], wtype);
    tensor(`${prefix}.mlp.2.bias`, [state], F32);
    ln('attn_ln');
    attn('attn');
    if (cross) {
      ln('cross_attn_ln');
      attn('cross_attn');
    }
  };

  const s = h.audioState;
  tensor('encoder.positional_embedding', [s, h.audioCtx], F32);
  tensor('encoder.conv1.weight', [3, h.mels, s], F16);
  tensor('encoder.conv1.bias', [1, s], F32);
  tensor('encoder.conv2.weight', [3, s, s], F16);
  tensor('encoder.conv2.bias', [1, s], F32);
  tensor('encoder.ln_post.weight', [s], F32, ones);
  tensor('encoder.ln_post.bias', [s], F32);
  for (let i = 0; i < h.audioLayers; i++) block(`encoder.blocks.${i}`, s, false);

  const t = h.textState;
  // Position of the last prompt token + j predicts targets[j]: it points along axis j.
  // Language detection reads the logits after <|startoftext|> at position 0: one more axis makes
  // it pick English, so `auto` is deterministic too.
  const langAxis = targets.length;
  const english = 50259;
  tensor('decoder.positional_embedding', [t, h.textCtx], F32, (data) => {
    targets.forEach((_, j) => data.writeFloatLE(10, 4 * ((promptLength - 1 + j) * t + j)));
    if (multilingual) data.writeFloatLE(10, 4 * langAxis);
  });
  // Token targets[j] is the unit vector on axis j, so its logit peaks exactly at step j.
  tensor('decoder.token_embedding.weight', [t, h.nVocab], wtype, (data, type) => {
    const put = (id: number, axis: number) => putOne(data, type, id * t + axis);
    targets.forEach((id, j) => put(id, j));
    if (multilingual) put(english, langAxis);
  });
  tensor('decoder.ln.weight', [t], F32, ones);
  tensor('decoder.ln.bias', [t], F32);
  for (let i = 0; i < h.textLayers; i++) block(`decoder.blocks.${i}`, t, true);
  w.close();
  renameSync(tmp, out);
}

/** What a synthetic model says, as whisper.cpp prints it. */
export function syntheticText(fixture: string, say: number | string = 20): string {
  const h = readHeader(fixture);
  return chooseWords(h, say)
    .map((id) => h.vocab[id]!.toString('utf8'))
    .join('')
    .trim();
}

/** A cached synthetic model for tests and benchmarks, rebuilt only when its inputs change. */
export function syntheticModel(fixture: string, say: number | string = 20, shape: SyntheticShape = {}): string {
  const dir = join(tmpdir(), 'vtuber-stt-synthetic');
  mkdirSync(dir, { recursive: true });
  const key = createHash('sha1').update(readFileSync(fixture)).update(String(say)).update(JSON.stringify(shape)).update(readFileSync(new URL(import.meta.url))).digest('hex').slice(0, 12);
  const out = join(dir, `${basename(fixture, '.bin')}-${key}.bin`);
  if (!existsSync(out)) writeSyntheticModel(fixture, out, say, shape);
  return out;
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const [fixture, out, arg] = process.argv.slice(2);
  if (!fixture || !out) throw new Error('usage: synthetic_model.ts <fixture.bin> <out.bin> [K | " token| by| token"]');
  const say = arg === undefined ? 20 : /^\d+$/.test(arg) ? Number(arg) : arg;
  writeSyntheticModel(fixture, out, say);
  console.log(`wrote ${out}: says "${syntheticText(fixture, say)}"`);
}
