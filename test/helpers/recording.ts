import { encodeS16le, SAMPLE_RATE } from '@vtuber-stt/core';
import { loadClip } from './fixtures.js';

export interface Recording {
  /** 16 kHz mono s16le. */
  pcm: Buffer;
  /** Where each clip lies in it, in ms. */
  clips: { file: string; startMs: number; endMs: number }[];
  durationMs: number;
}

/** Quiet room noise (about -66 dBFS), not digital zero: what a microphone gives between turns. Deterministic by `seed`. */
export function roomNoise(seconds: number, seed = 1): Float32Array {
  const out = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  let x = seed;
  for (let i = 0; i < out.length; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out[i] = (x / 2147483648 - 0.5) * 0.001;
  }
  return out;
}

/** Fixture clips one after another with silence between them: several utterances in one stream. */
export function buildRecording(files: string[], gapMs: number, leadMs = 500, tailMs = gapMs): Recording {
  const silence = (ms: number) => new Float32Array(Math.round((ms / 1000) * SAMPLE_RATE));
  const parts: Float32Array[] = [silence(leadMs)];
  const clips: Recording['clips'] = [];
  let at = leadMs;
  files.forEach((file, i) => {
    const clip = loadClip(file);
    const ms = (clip.length / SAMPLE_RATE) * 1000;
    clips.push({ file, startMs: at, endMs: at + ms });
    parts.push(clip, silence(i === files.length - 1 ? tailMs : gapMs));
    at += ms + (i === files.length - 1 ? tailMs : gapMs);
  });
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return { pcm: encodeS16le(all), clips, durationMs: (all.length / SAMPLE_RATE) * 1000 };
}

/**
 * Sends `pcm` in `chunkMs` chunks paced like a microphone (`speed` times real time), calling
 * `beforeChunk` with the offset in ms of each chunk first (a test acts at a point in the audio).
 */
export async function streamPaced(
  pcm: Buffer,
  send: (chunk: Buffer) => void,
  { chunkMs = 64, speed = 1, beforeChunk }: { chunkMs?: number; speed?: number; beforeChunk?: (atMs: number) => void | Promise<void> } = {},
): Promise<void> {
  const chunkBytes = Math.round((chunkMs / 1000) * SAMPLE_RATE) * 2;
  const began = performance.now();
  for (let i = 0, n = 0; i < pcm.length; i += chunkBytes, n++) {
    await beforeChunk?.(n * chunkMs);
    send(pcm.subarray(i, i + chunkBytes));
    const due = began + ((n + 1) * chunkMs) / speed;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * Sends `pcm` cut as a microphone cuts it (`chunkMs` frames on the same grid as streamPaced), but
 * as fast as the socket takes it: where only the audio clock matters (the service's turns run on
 * it), nothing waits in real time. `to(ms)` sends every chunk that begins before `ms`, `rest()`
 * the remainder; a test acts between the two, at a point in the audio.
 */
export function feeder(pcm: Buffer, send: (chunk: Buffer) => void, chunkMs = 32): { to(ms: number): void; rest(): void } {
  const chunkBytes = Math.round((chunkMs / 1000) * SAMPLE_RATE) * 2;
  let at = 0;
  const to = (ms: number) => {
    const end = Math.min(pcm.length, Math.ceil(ms / chunkMs) * chunkBytes);
    for (; at < end; at += chunkBytes) send(pcm.subarray(at, at + chunkBytes));
  };
  return { to, rest: () => to(Infinity) };
}
