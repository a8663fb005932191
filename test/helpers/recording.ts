import { encodeS16le, SAMPLE_RATE } from '@vtuber-stt/core';
import { loadClip } from './fixtures.js';

export interface Recording {
  /** 16 kHz mono s16le. */
  pcm: Buffer;
  /** Where each clip lies in it, in ms. */
  clips: { file: string; startMs: number; endMs: number }[];
  durationMs: number;
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
