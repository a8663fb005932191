/**
 * The echo bench's conversation: ten VTuber lines (espeak-ng, heard through the room as the
 * echo scene builds them) and ten streamer turns (real recorded fixtures), alternating, on one
 * 16 kHz microphone timeline. Half the streamer turns barge in over the end of the VTuber's line
 * (the line plays on to its end: the worst case, a brain that never stops its TTS); the others
 * answer after a pause. Two streamer turns are 10 dB quieter, one of them barging in. Deterministic: the same samples every run.
 */
import { SAMPLE_RATE } from '@vtuber-stt/core';
import { mixInto, noiseFloor, streamerClip, vtuberLine, type Playback } from '../../test/helpers/echo_scene.js';

const LINES = [
  'Thanks for the raid, everyone! Grab a snack and stay a while.',
  'I think you should try the other door first, it looks safer.',
  'Oh no, the boss has a second phase? That is so unfair!',
  'Chat says we need more potions before the next dungeon.',
  'Welcome back! Did you finish the puzzle from yesterday?',
  'Let me read the super chat: happy birthday from Brazil!',
  'Okay, okay, one more round and then we take a short break.',
  'Wait, did you hear that sound behind the waterfall?',
  'My cat just walked across the keyboard, sorry about that.',
  'Today we are going to build the biggest castle on the server.',
];

interface TurnSpec {
  clip: string;
  /** Starts this long before the echo's end (barge-in), or `gapMs` after it. */
  overlapMs?: number;
  gapMs?: number;
  gainDb?: number;
}

const TURNS: TurnSpec[] = [
  { clip: 'speechbrain/spk1_snt2.wav', gapMs: 900 },
  { clip: 'speechbrain/spk2_snt3.wav', overlapMs: 600, gainDb: -10 },
  { clip: 'coqui-tts-ljspeech/LJ001-0002.wav', gapMs: 1200 },
  { clip: 'mfa/mfa_thoughts.wav', overlapMs: 900 },
  { clip: 'speechbrain/spk1_snt4.wav', gapMs: 700, gainDb: -10 },
  { clip: 'coqui-tts-ljspeech/LJ001-0008.wav', overlapMs: 400 },
  { clip: 'speechbrain/spk2_snt5.wav', gapMs: 1500 },
  { clip: 'mfa/librispeech_61-70968-0000.wav', overlapMs: 750 },
  { clip: 'speechbrain/spk1_snt6.wav', gapMs: 1000 },
  { clip: 'mfa/common_voice_en_22058266.wav', overlapMs: 500 },
];

/** After a streamer turn, the VTuber answers after this (cycled). */
const ANSWER_GAPS_MS = [800, 1100, 700, 1300, 900];
const LEAD_IN_MS = 500;
const TAIL_MS = 1500;

export interface Span {
  start_ms: number;
  end_ms: number;
}

export interface EchoTurn extends Span {
  index: number;
  clip: string;
  /** Where the clip (cut by streamerClip) starts in the mic, ms. */
  clip_at_ms: number;
  barge_in: boolean;
  gain_db: number;
}

export interface EchoLine extends Span {
  index: number;
  text: string;
}

export interface EchoConversation {
  mic: Float32Array;
  playbacks: Playback[];
  /** Where each line's echo is audible in the mic. */
  lines: EchoLine[];
  /** Where each streamer turn's speech is in the mic. */
  turns: EchoTurn[];
}

const samplesOf = (ms: number) => Math.round((ms / 1000) * SAMPLE_RATE);
const msOf = (samples: number) => Math.round((samples / SAMPLE_RATE) * 10000) / 10;

export function buildConversation(): EchoConversation {
  const parts: { at: number; pcm: Float32Array; gain: number }[] = [];
  const playbacks: Playback[] = [];
  const lines: EchoLine[] = [];
  const turns: EchoTurn[] = [];
  let cursor = samplesOf(LEAD_IN_MS);
  LINES.forEach((text, i) => {
    const line = vtuberLine(text);
    playbacks.push({ start: cursor, pcm: line.reference });
    parts.push({ at: cursor, pcm: line.echo, gain: 1 });
    lines.push({ index: i + 1, text, start_ms: msOf(cursor + line.echoStart), end_ms: msOf(cursor + line.echoEnd) });
    const spec = TURNS[i]!;
    const clip = streamerClip(spec.clip);
    const speechAt = spec.overlapMs !== undefined ? cursor + line.echoEnd - samplesOf(spec.overlapMs) : cursor + line.echoEnd + samplesOf(spec.gapMs ?? 1000);
    const at = speechAt - clip.start;
    parts.push({ at, pcm: clip.samples, gain: 10 ** ((spec.gainDb ?? 0) / 20) });
    turns.push({ index: i + 1, clip: spec.clip, clip_at_ms: msOf(at), barge_in: spec.overlapMs !== undefined, gain_db: spec.gainDb ?? 0, start_ms: msOf(speechAt), end_ms: msOf(at + clip.end) });
    cursor = Math.max(cursor + line.echo.length, at + clip.end) + samplesOf(ANSWER_GAPS_MS[i % ANSWER_GAPS_MS.length]!);
  });
  const mic = noiseFloor(cursor + samplesOf(TAIL_MS));
  for (const p of parts) mixInto(mic, p.gain === 1 ? p.pcm : p.pcm.map((s) => s * p.gain), p.at);
  return { mic, playbacks, lines, turns };
}
