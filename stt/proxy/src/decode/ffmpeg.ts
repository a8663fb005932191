import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AudioDecodeError, undecodable } from './errors.js';
import type { Container } from './sniff.js';

export interface FfmpegLimits {
  /** Longest audio decoded; past it ffmpeg is killed and the file refused (never unbounded output). */
  maxSeconds: number;
  /** Wall-clock bound on one decode; ffmpeg is killed past it. */
  timeoutMs: number;
  /**
   * ffmpeg's demuxer (`-f`), from the sniffed container: always named, so ffmpeg never probes (its
   * probe takes an HLS playlist or concat script hidden behind a magic), and the only one allowed.
   */
  inputFormat: Container['ffmpegFormat'];
  /** Channels the header declares, where known (WAV): past 8 their layout is unknown and `-ac 1` cannot downmix. */
  inputChannels?: number;
  /** Where ffmpeg's own reason for a failure goes (never to the client). */
  logger?: DecodeLogger;
  /** The executable, for tests and for installs outside PATH. */
  binary?: string;
  /** The request's client went away: a decode not started is skipped, one running is killed (the reason is thrown). */
  signal?: AbortSignal;
}

export interface DecodeLogger {
  debug(details: object, message: string): void;
}

/** What ffmpeg writes: 16 kHz mono float32, the format every service takes without converting. */
export const FFMPEG_OUTPUT = { sampleRate: 16_000, encoding: 'f32le', channels: 1 } as const;
const BYTES_PER_SECOND = FFMPEG_OUTPUT.sampleRate * 4;
const STDERR_KEEP = 4096;

/** ffmpeg processes at once (one thread each); more uploads wait their turn instead of piling up processes. */
const MAX_RUNNING = Math.max(1, availableParallelism());
let running = 0;
const waiting: (() => void)[] = [];

async function acquire(): Promise<void> {
  if (running < MAX_RUNNING) {
    running++;
    return;
  }
  await new Promise<void>((resolve) => waiting.push(resolve));
}

/** Hands the slot to the next upload waiting, if any. */
function release(): void {
  const next = waiting.shift();
  if (next) next();
  else running--;
}

/**
 * Decodes any container ffmpeg reads into 16 kHz mono f32le, in a subprocess: a decoder crash on
 * a hostile file kills ffmpeg, not the proxy, and a decode can always be stopped. The input goes
 * through a temporary file rather than a pipe because MP4/M4A files usually keep their index
 * (moov) at the end, which a pipe cannot seek back to.
 */
export async function decodeWithFfmpeg(input: Uint8Array, limits: FfmpegLimits): Promise<Buffer> {
  await acquire();
  try {
    limits.signal?.throwIfAborted();
    const dir = await mkdtemp(join(tmpdir(), 'stt-decode-'));
    try {
      const path = join(dir, 'input');
      await writeFile(path, input);
      return await run(path, limits);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    release();
  }
}

/** Channels ffmpeg downmixes itself (it knows their layout); more are averaged by an explicit pan. */
const KNOWN_LAYOUTS = 8;
/** The most channels ffmpeg's resampler (and so its pan filter) takes. */
export const MAX_DOWNMIX_CHANNELS = 64;

/**
 * ffmpeg's arguments for one upload. The input is read as the one temporary file and nothing else:
 * the `file` protocol only (no http, data:, subfile, concat, pipe...), the sniffed demuxer only
 * (no hls, concat, sdp, image2... even nested), and MP4's external references (drefs) off.
 */
export function ffmpegArgs(path: string, limits: Pick<FfmpegLimits, 'inputFormat' | 'inputChannels'>): string[] {
  const format = limits.inputFormat;
  const args = ['-nostdin', '-hide_banner', '-v', 'error', '-threads', '1', '-protocol_whitelist', 'file', '-format_whitelist', format, '-f', format];
  // Their defaults today, stated so that a new ffmpeg cannot turn them on: an MP4 may point at other files.
  if (format === 'mov') args.push('-enable_drefs', '0', '-use_absolute_path', '0');
  // -xerror: a decode error ends the run instead of concealed garbage.
  args.push('-xerror', '-i', `file:${path}`, '-vn', '-sn', '-dn');
  const channels = limits.inputChannels ?? 0;
  if (channels > KNOWN_LAYOUTS) {
    const all = Array.from({ length: channels }, (_, i) => `c${i}`).join('+');
    // `<` renormalises the gains to sum to 1: the average of every channel.
    args.push('-af', `pan=mono|c0<${all}`);
  } else args.push('-ac', '1');
  args.push('-ar', String(FFMPEG_OUTPUT.sampleRate), '-f', 'f32le', 'pipe:1');
  return args;
}

function run(path: string, limits: FfmpegLimits): Promise<Buffer> {
  const maxBytes = Math.ceil(limits.maxSeconds * BYTES_PER_SECOND);
  const args = ffmpegArgs(path, limits);
  const refuse = (detail: string) => {
    limits.logger?.debug({ format: limits.inputFormat, detail }, 'ffmpeg could not decode an upload');
    return undecodable();
  };
  return new Promise((resolve, reject) => {
    const child = spawn(limits.binary ?? 'ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let bytes = 0;
    let stderr = '';
    let failure: Error | undefined;
    const stop = (error: Error) => {
      failure ??= error;
      child.kill('SIGKILL');
    };
    const onAbort = () => stop(limits.signal!.reason as Error);
    if (limits.signal?.aborted) onAbort();
    else limits.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () => stop(new AudioDecodeError(`decoding took longer than ${limits.timeoutMs} ms (STT_PROXY_DECODE_TIMEOUT_MS) and was stopped`, 'decode_timeout')),
      limits.timeoutMs,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      if (failure) return;
      bytes += chunk.length;
      if (bytes > maxBytes) {
        stop(new AudioDecodeError(`the audio is longer than ${limits.maxSeconds} s (STT_PROXY_MAX_AUDIO_SECONDS); send a shorter file`, 'audio_too_long'));
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < STDERR_KEEP) stderr += chunk.toString('utf8');
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ENOENT') {
        reject(new AudioDecodeError('this audio format needs ffmpeg, which is not installed on the proxy: install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg), or send WAV', 'decoder_missing'));
      } else reject(new AudioDecodeError(`cannot start ffmpeg: ${error.message}`, 'decoder_missing'));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      if (code !== 0) return reject(refuse(reason(stderr, path) || `ffmpeg exited with ${signal ?? `code ${code}`}`));
      const out = Buffer.concat(chunks, bytes);
      if (out.length < 4) return reject(refuse(`no audio decoded${stderr ? `: ${reason(stderr, path)}` : ''}`));
      // Whole samples only: a partial float at the end would misalign everything after it.
      resolve(out.subarray(0, out.length - (out.length % 4)));
    });
  });
}

/** ffmpeg's last distinct lines, for the log. */
function reason(stderr: string, path: string): string {
  const lines = [...new Set(stderr.split('\n').map((l) => l.replaceAll(path, 'input').trim()).filter(Boolean))];
  return lines.slice(-3).join('; ').slice(0, 500);
}
