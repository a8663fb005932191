import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { decodePcm, decodeWav, encodeS16le, resample, SAMPLE_RATE, StreamingResampler, type PcmFormat } from '@vtuber-stt/core/client';
import { CaptureError, startCapture, type CaptureTool } from './capture.js';

/** 32 ms of 16 kHz s16le: one Silero window per chunk. */
export const CHUNK_SAMPLES = 512;
const CHUNK_BYTES = CHUNK_SAMPLES * 2;

/** How fast a file plays: as a microphone would (1), faster (n), or as fast as the socket takes it. */
export type Pace = number | 'fast';

export type AudioSource = AsyncIterable<Buffer>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Re-cuts a byte stream of 16 kHz s16le into CHUNK_BYTES chunks. */
async function* rechunk(stream: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  for await (const data of stream) {
    carry = carry.length ? Buffer.concat([carry, data]) : data;
    let o = 0;
    for (; o + CHUNK_BYTES <= carry.length; o += CHUNK_BYTES) yield carry.subarray(o, o + CHUNK_BYTES);
    carry = carry.subarray(o);
  }
  if (carry.length >= 2) yield carry.subarray(0, carry.length - (carry.length % 2));
}

/**
 * A WAV file at any rate, converted to 16 kHz mono, paced like a live microphone unless `fast`.
 * Read and checked before anything connects, so a bad file is reported at once.
 */
export async function fileSource(path: string, pace: Pace, signal?: AbortSignal): Promise<AudioSource> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new CaptureError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  let pcm: Float32Array;
  try {
    const wav = decodeWav(bytes);
    pcm = resample(wav.samples, wav.sampleRate, SAMPLE_RATE);
  } catch (error) {
    throw new CaptureError(`cannot use ${path}: ${(error as Error).message}`);
  }
  return play(encodeS16le(pcm), pace, signal);
}

async function* play(wire: Buffer, pace: Pace, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const chunkMs = (CHUNK_SAMPLES / SAMPLE_RATE) * 1000;
  const start = performance.now();
  for (let i = 0, n = 0; i < wire.length; i += CHUNK_BYTES, n++) {
    if (signal?.aborted) return;
    if (pace !== 'fast') {
      const due = start + (n * chunkMs) / pace;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
    } else if (n % 64 === 0) {
      await sleep(0); // let replies in
    }
    yield wire.subarray(i, i + CHUNK_BYTES);
  }
}

/** Raw PCM on stdin in the given format, converted to 16 kHz mono s16le as it arrives. */
export async function* stdinSource(stdin: Readable, format: PcmFormat): AsyncGenerator<Buffer> {
  const frame = (format.encoding === 's16le' ? 2 : 4) * format.channels;
  const resampler = format.sampleRate === SAMPLE_RATE ? undefined : new StreamingResampler(format.sampleRate, SAMPLE_RATE);
  let carry: Buffer = Buffer.alloc(0);
  const converted = async function* () {
    for await (const data of stdin as AsyncIterable<Buffer>) {
      carry = carry.length ? Buffer.concat([carry, data]) : data;
      const whole = carry.length - (carry.length % frame);
      let pcm = decodePcm(carry.subarray(0, whole), format);
      carry = carry.subarray(whole);
      if (resampler) pcm = resampler.push(pcm);
      yield encodeS16le(pcm);
    }
    if (resampler) yield encodeS16le(resampler.end());
  };
  yield* rechunk(converted());
}

/** The microphone through an external capture tool; its failure is reported with the tool's own words. */
export async function* micSource(tool: CaptureTool, device: string | undefined, signal?: AbortSignal, env?: NodeJS.ProcessEnv): AsyncGenerator<Buffer> {
  const child = startCapture(tool, device, env);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  signal?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
  let got = 0;
  try {
    for await (const chunk of rechunk(child.stdout as AsyncIterable<Buffer>)) {
      got += chunk.length;
      yield chunk;
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  const code = await Promise.race([exited, spawnError.then((e) => e)]);
  if (code instanceof Error) throw new CaptureError(`cannot start ${tool}: ${code.message}`);
  if (!signal?.aborted && (code !== 0 || got === 0)) {
    throw new CaptureError(`capture with ${tool} failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' / ') || 'no audio'}`);
  }
}
