/**
 * The conversation the felt-latency bench plays: fixture clips laid on one 16 kHz timeline with
 * 1-2 s gaps, every turn's true speech bounds known. Deterministic: the same samples every run.
 *
 * Each clip is cut to ~100 ms around its speech bounds, so the gaps are the conversation's, not
 * the recordings' own silences. A faint noise floor (-65 dBFS) runs under everything. One turn is
 * 20 dB quieter; three turns join two pieces with a 0.2-0.4 s pause inside (the stack must not
 * end those turns at the pause).
 */
import { SAMPLE_RATE } from '@vtuber-stt/core';
import { audioPath, loadClip, manifest } from '../../test/helpers/fixtures.js';
import { dbToGain, mixInto, noise } from './signal.js';
import { readWords, speechBounds, type Bounds } from './speech_bounds.js';

/** A stretch of one fixture clip: the whole clip, or the words `from..to` (indices into its .words.tsv). */
interface Piece {
  clip: string;
  words?: [number, number];
}

interface TurnSpec {
  pieces: [Piece] | [Piece, Piece];
  /** Speech-to-speech pause inside a joined turn. */
  pauseMs?: number;
  gainDb?: number;
}

export interface Turn {
  /** 1-based, in playing order. */
  index: number;
  id: string;
  language: 'en' | 'ko';
  /** What a real model should hear (the synthetic models say fixed words regardless). */
  text: string;
  gain_db: number;
  pause_ms: number | null;
  /** True speech bounds, ms of audio from the start of the conversation. */
  start_ms: number;
  end_ms: number;
  bounds_from: Bounds['from'];
}

export interface Conversation {
  samples: Float32Array;
  turns: Turn[];
  noise_dbfs: number;
}

const KO = 'picovoice-leopard/test_ko.wav';
/** test_ko.wav split after 피하면서 (word 3 of 7): the natural 0.25 s gap is the cut. */
const KO_A: Piece = { clip: KO, words: [0, 3] };
const KO_B: Piece = { clip: KO, words: [3, 7] };

/**
 * The turns, in order. The first four cover every kind (English, Korean, a pause, the quiet one),
 * so `--quick` still sees each. Durations are speech bounds: 1.1 to 7.6 s.
 */
const TURNS: TurnSpec[] = [
  { pieces: [{ clip: 'speechbrain/spk1_snt1.wav' }] },
  { pieces: [{ clip: KO }] },
  { pieces: [{ clip: 'speechbrain/spk2_snt1.wav' }, { clip: 'speechbrain/spk2_snt2.wav' }], pauseMs: 300 },
  { pieces: [{ clip: 'coqui-tts-ljspeech/LJ001-0002.wav' }], gainDb: -20 },
  { pieces: [{ clip: 'picovoice-leopard/test_en.wav' }] },
  { pieces: [KO_A] },
  { pieces: [KO_B] },
  { pieces: [{ clip: 'coqui-tts-ljspeech/LJ001-0004.wav' }] },
  { pieces: [{ clip: 'speechbrain/spk1_snt3.wav' }] },
  { pieces: [KO_A, KO_B], pauseMs: 400 },
  { pieces: [{ clip: 'mfa/librispeech_61-70968-0000.wav' }] },
  { pieces: [{ clip: 'coqui-tts-ljspeech/LJ001-0006.wav' }, { clip: 'coqui-tts-ljspeech/LJ001-0008.wav' }], pauseMs: 200 },
  { pieces: [{ clip: 'speechbrain/spk2_snt3.wav' }] },
  { pieces: [{ clip: 'speechbrain/spk1_snt4.wav' }] },
];

/** Silence between one turn's true end and the next one's true start, cycled. */
const GAPS_S = [1.4, 1.1, 1.8, 1.2, 2.0, 1.5, 1.0, 1.7, 1.3, 1.9, 1.6, 1.2, 1.5];
const LEAD_IN_S = 1.0;
/** After the last turn: room for the stack to end it by silence, not by the end of input. */
const TAIL_S = 3.0;
/** Audio kept around each piece's speech bounds. */
const MARGIN_S = 0.1;
const NOISE_DBFS = -65;
const NOISE_SEED = 20240611;

interface CutPiece {
  samples: Float32Array;
  /** Speech bounds inside `samples`, in samples. */
  start: number;
  end: number;
  text: string;
  language: 'en' | 'ko';
  from: Bounds['from'];
  name: string;
}

const toSamples = (s: number) => Math.round(s * SAMPLE_RATE);

/** One piece cut to its bounds plus `before`/`after` seconds (less where the clip ends sooner). */
function cutPiece(piece: Piece, before: number, after: number): CutPiece {
  const clip = loadClip(piece.clip);
  const row = manifest().find((r) => r.file === piece.clip);
  if (!row) throw new Error(`conversation: ${piece.clip} is not in MANIFEST.tsv`);
  const allWords = readWords(audioPath(piece.clip).replace(/\.wav$/, '.words.tsv'));
  const words = piece.words && allWords ? allWords.slice(...piece.words) : allWords;
  if (piece.words && !allWords) throw new Error(`conversation: ${piece.clip} has no word timings to split at`);
  const bounds = speechBounds(clip, words);
  const from = Math.max(0, toSamples(bounds.start - before));
  const to = Math.min(clip.length, toSamples(bounds.end + after));
  const name = piece.clip.split('/').pop()!.replace(/\.wav$/, '') + (piece.words ? `[${piece.words.join('-')}]` : '');
  return {
    samples: clip.subarray(from, to),
    start: toSamples(bounds.start) - from,
    end: toSamples(bounds.end) - from,
    text: piece.words ? words!.map((w) => w.word).join(' ') : row.transcript,
    language: row.language === 'ko' ? 'ko' : 'en',
    from: bounds.from,
    name,
  };
}

/**
 * Lays the pieces of one turn out relative to its own true start (sample 0 = true start).
 * A joined turn keeps at most MARGIN_S of each piece's own audio on either side of the pause and
 * fills the rest of the pause with the noise floor, so the pause is exactly `pauseMs` of non-speech.
 */
function layTurn(spec: TurnSpec): { parts: { at: number; piece: CutPiece }[]; length: number; pieces: CutPiece[] } {
  if (spec.pieces.length === 1) {
    const p = cutPiece(spec.pieces[0], MARGIN_S, MARGIN_S);
    return { parts: [{ at: -p.start, piece: p }], length: p.end - p.start, pieces: [p] };
  }
  const pause = (spec.pauseMs ?? 0) / 1000;
  const inner = Math.min(MARGIN_S, pause / 2);
  const a = cutPiece(spec.pieces[0], MARGIN_S, inner);
  const b = cutPiece(spec.pieces[1], inner, MARGIN_S);
  const bStart = a.end - a.start + toSamples(pause);
  return { parts: [{ at: -a.start, piece: a }, { at: bStart - b.start, piece: b }], length: bStart + b.end - b.start, pieces: [a, b] };
}

/** Builds the conversation; `limit` keeps only the first turns (`--quick`). */
export function buildConversation(limit = TURNS.length): Conversation {
  const specs = TURNS.slice(0, limit);
  const laid = specs.map(layTurn);
  let cursor = toSamples(LEAD_IN_S);
  const starts = laid.map((t, i) => {
    const at = cursor;
    cursor += t.length + toSamples(GAPS_S[i % GAPS_S.length]!);
    return at;
  });
  const total = starts.at(-1)! + laid.at(-1)!.length + toSamples(TAIL_S);
  const samples = noise(total, NOISE_DBFS, NOISE_SEED);
  const turns = laid.map((t, i): Turn => {
    const spec = specs[i]!;
    const gain = spec.gainDb ?? 0;
    for (const { at, piece } of t.parts) mixInto(samples, piece.samples, starts[i]! + at, dbToGain(gain));
    const ms = (n: number) => Math.round((n / SAMPLE_RATE) * 10000) / 10;
    const from = t.pieces.every((p) => p.from === 'words') ? 'words' : 'energy';
    return {
      index: i + 1,
      id: t.pieces.map((p) => p.name).join(' + ') + (gain ? ` (${gain} dB)` : ''),
      language: t.pieces[0]!.language,
      text: t.pieces.map((p) => p.text).join(' '),
      gain_db: gain,
      pause_ms: spec.pauseMs ?? null,
      start_ms: ms(starts[i]!),
      end_ms: ms(starts[i]! + t.length),
      bounds_from: from,
    };
  });
  return { samples, turns, noise_dbfs: NOISE_DBFS };
}
