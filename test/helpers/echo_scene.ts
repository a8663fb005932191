/**
 * The "echo scene" of issue 20: what a streamer's microphone hears while the VTuber talks.
 * The VTuber's line is real TTS (espeak-ng); its echo is that audio through sox at -12 dB with a
 * room reverb and ~60 ms of speaker-to-mic delay; the streamer is a real recorded fixture that
 * may start over the end of the line (barge-in). Everything is 16 kHz mono float on one clock:
 * sample 0 of `mic` is the moment the client starts streaming.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav, SAMPLE_RATE } from '@vtuber-stt/core';
import { loadClip } from './fixtures.js';

export interface EchoPath {
  /** Level of the echo relative to what the speaker plays. */
  gainDb: number;
  /** sox reverb's reverberance, 0-100 %. */
  reverb: number;
  /** Speaker-to-microphone delay before the first echo, in ms. */
  delayMs: number;
}

export const DEFAULT_ECHO_PATH: EchoPath = { gainDb: -12, reverb: 50, delayMs: 60 };

export interface VtuberLine {
  text: string;
  /** What the speaker plays: the TTS at 16 kHz (the reference a client streams). */
  reference: Float32Array;
  /** What the microphone picks up of it, sample 0 = the moment the speaker starts playing. */
  echo: Float32Array;
  /** Where the echo is audible in `echo`, in samples (energy bounds, reverb tail included). */
  echoStart: number;
  echoEnd: number;
}

let dir: string | undefined;
function workDir(): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'echo-scene-'));
    const made = dir;
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return dir;
}

const lines = new Map<string, VtuberLine>();
let made = 0;

/** The VTuber speaking `text` (English), and its echo in the room; cached per process. */
export function vtuberLine(text: string, path: EchoPath = DEFAULT_ECHO_PATH): VtuberLine {
  const key = JSON.stringify([text, path]);
  const cached = lines.get(key);
  if (cached) return cached;
  const base = join(workDir(), `line${made++}`);
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '165', '-w', `${base}.tts.wav`, text]);
  execFileSync('sox', [`${base}.tts.wav`, '-r', String(SAMPLE_RATE), '-c', '1', '-b', '16', `${base}.ref.wav`]);
  // pad first so the reverb tail rings out past the last word instead of being cut off.
  execFileSync('sox', [
    `${base}.ref.wav`, `${base}.echo.wav`,
    'gain', String(path.gainDb), 'pad', '0', '0.5', 'reverb', String(path.reverb), '50', '60', 'channels', '1',
    'delay', String(path.delayMs / 1000),
  ]);
  const reference = readWav(`${base}.ref.wav`);
  const echo = readWav(`${base}.echo.wav`);
  const [echoStart, echoEnd] = energyBounds(echo);
  const line = { text, reference, echo, echoStart, echoEnd };
  lines.set(key, line);
  return line;
}

function readWav(file: string): Float32Array {
  const wav = decodeWav(readFileSync(file));
  if (wav.sampleRate !== SAMPLE_RATE) throw new Error(`echo scene: ${file} is ${wav.sampleRate} Hz`);
  return wav.samples;
}

const FRAME = SAMPLE_RATE / 100;
/**
 * First and last 10 ms frame within 35 dB of the loudest one (samples): soft onsets and the
 * reverb tail count, the -65 dBFS floor and digital silence do not.
 */
export function energyBounds(samples: Float32Array, belowPeakDb = 35): [number, number] {
  const db: number[] = [];
  for (let i = 0; i + FRAME <= samples.length; i += FRAME) {
    let sum = 0;
    for (let j = i; j < i + FRAME; j++) sum += samples[j]! * samples[j]!;
    db.push(10 * Math.log10(sum / FRAME + 1e-12));
  }
  const floor = Math.max(...db) - belowPeakDb;
  const first = db.findIndex((d) => d >= floor);
  let last = db.length - 1;
  while (last > first && db[last]! < floor) last--;
  return [first * FRAME, (last + 1) * FRAME];
}

/** A real recorded speaker, cut to start just before its speech. */
export interface StreamerClip {
  samples: Float32Array;
  /** Speech bounds inside `samples`. */
  start: number;
  end: number;
}

export function streamerClip(fixture: string, marginMs = 100): StreamerClip {
  const clip = loadClip(fixture);
  const [start, end] = energyBounds(clip);
  const from = Math.max(0, start - (marginMs * SAMPLE_RATE) / 1000);
  return { samples: clip.subarray(from), start: start - from, end: end - from };
}

/** Gaussian noise from a fixed seed (mulberry32 + Box-Muller): a real mic never sends digital zero. */
export function noiseFloor(length: number, dbfs = -65, seed = 20): Float32Array {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const sigma = 10 ** (dbfs / 20);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()) * sigma;
  return out;
}

export function mixInto(dst: Float32Array, src: Float32Array, offset: number): void {
  for (let i = 0; i < src.length && offset + i < dst.length; i++) dst[offset + i] = dst[offset + i]! + src[i]!;
}

export interface EchoSceneOptions {
  /** The VTuber's line (English). */
  text?: string;
  /** A fixture clip of the streamer (e.g. 'speechbrain/spk1_snt1.wav'), or none: echo only. */
  streamer?: string;
  /** How long before the echo's last audible sample the streamer starts speaking (barge-in). */
  overlapMs?: number;
  /** Microphone audio before the VTuber starts, and after everything ends. */
  leadInMs?: number;
  tailMs?: number;
  path?: EchoPath;
}

export interface EchoScene {
  /** What the microphone hears, 16 kHz mono float. */
  mic: Float32Array;
  /** What the speaker plays (the reference), starting at `referenceStart` on the mic clock. */
  reference: Float32Array;
  referenceStart: number;
  /** Where the VTuber's echo is audible in `mic`, ms [start, end). */
  vtuberSpanMs: [number, number];
  /** Where the streamer's speech is in `mic`, ms (absent without a streamer). */
  streamerStartMs?: number;
  streamerEndMs?: number;
  text: string;
}

const ms = (samples: number) => (samples / SAMPLE_RATE) * 1000;
const samplesOf = (ms: number) => Math.round((ms / 1000) * SAMPLE_RATE);

/** One VTuber line heard through the room, optionally with the streamer barging in over its end. */
export function echoScene(options: EchoSceneOptions = {}): EchoScene {
  const text = options.text ?? 'Thanks for the raid, everyone! Grab a snack and stay a while.';
  const line = vtuberLine(text, options.path);
  const lead = samplesOf(options.leadInMs ?? 300);
  const streamer = options.streamer ? streamerClip(options.streamer) : undefined;
  const streamerAt = streamer ? lead + line.echoEnd - samplesOf(options.overlapMs ?? 600) - streamer.start : 0;
  const end = Math.max(lead + line.echo.length, streamer ? streamerAt + streamer.samples.length : 0) + samplesOf(options.tailMs ?? 300);
  const mic = noiseFloor(end);
  mixInto(mic, line.echo, lead);
  if (streamer) mixInto(mic, streamer.samples, streamerAt);
  return {
    mic,
    reference: line.reference,
    referenceStart: lead,
    vtuberSpanMs: [ms(lead + line.echoStart), ms(lead + line.echoEnd)],
    ...(streamer ? { streamerStartMs: ms(streamerAt + streamer.start), streamerEndMs: ms(streamerAt + streamer.end) } : {}),
    text,
  };
}

/** Reference audio the speaker starts playing at `start` (a sample of the mic clock). */
export interface Playback {
  start: number;
  pcm: Float32Array;
}

/** What a canceller does with audio: the EchoCanceller interface, minus close(). */
interface Cancels {
  reference(pcm: Float32Array): void;
  process(mic: Float32Array): Float32Array;
  drain(): Float32Array;
}

/**
 * Streams `mic` through `canceller` the way a live client does: before each mic chunk, the
 * reference the speaker plays during that chunk is sent (just ahead of the mic, so it lands on
 * the mic clock where it played). Returns the cleaned audio, as long as `mic`.
 */
export function cancelLive(canceller: Cancels, mic: Float32Array, playbacks: Playback[], chunk = 320): Float32Array {
  const out = new Float32Array(mic.length);
  let written = 0;
  const fed = playbacks.map(() => 0);
  for (let pos = 0; pos < mic.length; pos += chunk) {
    const end = Math.min(mic.length, pos + chunk);
    playbacks.forEach((p, i) => {
      const upto = Math.min(p.pcm.length, end - p.start);
      if (upto > fed[i]!) {
        canceller.reference(p.pcm.subarray(fed[i]!, upto));
        fed[i] = upto;
      }
    });
    const cleaned = canceller.process(mic.subarray(pos, end));
    out.set(cleaned, written);
    written += cleaned.length;
  }
  out.set(canceller.drain(), written);
  return out;
}
