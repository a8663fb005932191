/**
 * Which decoder should the REST routes use for compressed audio? Compares the system ffmpeg as a
 * subprocess with @napi-rs/whisper's in-process decodeAudioAsync on every OpenAI file type (made
 * here with ffmpeg from a fixture clip), on speed, coverage, and corrupt / truncated input. The
 * in-process decoder's corrupt-input runs happen in a child process, so a native crash is seen
 * as a crash and not taken for a hang.
 *
 *   npx tsx bench/audio_decoders.ts [fixture.wav]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeAudioAsync } from '@napi-rs/whisper';
import { decodeWithFfmpeg } from '../stt/proxy/src/decode/ffmpeg.js';
import { sniffContainer } from '../stt/proxy/src/decode/sniff.js';

const fixtures = process.env.STT_FIXTURES ?? fileURLToPath(new URL('../../shared/fixtures', import.meta.url));
const source = process.argv[2] ?? join(fixtures, 'audio/whisper.cpp/jfk.wav');
const dir = mkdtempSync(join(tmpdir(), 'decoders-'));
const TYPES: Record<string, string[]> = {
  mp3: ['-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3'],
  mpga: ['-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3'],
  mpeg: ['-c:a', 'mp2', '-f', 'mpeg'],
  m4a: ['-c:a', 'aac', '-f', 'ipod'],
  mp4: ['-c:a', 'aac', '-f', 'mp4'],
  webm: ['-c:a', 'libopus', '-f', 'webm'],
  ogg: ['-c:a', 'libopus', '-f', 'ogg'],
  flac: ['-c:a', 'flac', '-f', 'flac'],
  wav: ['-c:a', 'pcm_s16le', '-f', 'wav'],
};
const RUNS = 5;
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** One in-process decode in a child, so a crash is observed rather than suffered. */
function napiInChild(file: string, name: string): string {
  const code = `import('@napi-rs/whisper').then(async ({ decodeAudioAsync }) => { const b = require('fs').readFileSync(${JSON.stringify(file)}); try { const s = await decodeAudioAsync(b, ${JSON.stringify(name)}); console.log('ok ' + s.length + ' samples'); } catch (e) { console.log('error: ' + e.message); } })`;
  const r = spawnSync(process.execPath, ['-e', code], { cwd: process.cwd(), timeout: 20_000, encoding: 'utf8' });
  if (r.error) return `hang (${r.error.message})`;
  if (r.signal) return `crashed: ${r.signal}`;
  if (r.status !== 0) return `exit ${r.status}: ${r.stderr.trim().split('\n').at(-1)}`;
  return r.stdout.trim();
}

const rows: string[] = ['| type | bytes | ffmpeg subprocess (median of 5) | napi decodeAudioAsync (median of 5) |', '|---|---|---|---|'];
const corrupt: string[] = ['| input | ffmpeg subprocess | napi decodeAudioAsync (in a child process) |', '|---|---|---|'];
for (const [type, args] of Object.entries(TYPES)) {
  const file = join(dir, `a.${type}`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', source, ...args, file]);
  const bytes = readFileSync(file);
  const ff: number[] = [];
  const na: number[] = [];
  let napiNote = '';
  for (let i = 0; i < RUNS; i++) {
    ff.push(await time(() => decodeWithFfmpeg(bytes, { maxSeconds: 600, timeoutMs: 30_000, inputFormat: sniffContainer(bytes)!.ffmpegFormat })));
    try {
      na.push(await time(() => decodeAudioAsync(bytes, `a.${type}`)));
    } catch (error) {
      napiNote = `fails: ${(error as Error).message}`;
    }
  }
  rows.push(`| ${type} | ${bytes.length} | ${median(ff).toFixed(1)} ms | ${napiNote || `${median(na).toFixed(1)} ms`} |`);
  if (type === 'mp3' || type === 'm4a' || type === 'webm' || type === 'flac') {
    const cases: [string, Buffer][] = [
      [`${type} truncated to 30 %`, bytes.subarray(0, Math.floor(bytes.length * 0.3))],
      [`${type} first 64 bytes`, bytes.subarray(0, 64)],
      [`${type} with the middle third overwritten by random bytes`, Buffer.concat([bytes.subarray(0, bytes.length / 3), randomBytes(bytes.length / 3), bytes.subarray((2 * bytes.length) / 3)])],
    ];
    for (const [label, data] of cases) corrupt.push(`| ${label} | ${await ffmpegOutcome(data)} | ${napiOutcome(data, `a.${type}`)} |`);
  }
}
corrupt.push(`| 64 KiB of random bytes | ${await ffmpegOutcome(randomBytes(65536))} | ${napiOutcome(randomBytes(65536), 'a.mp3')} |`);
console.log(`source: ${source}\n\n${rows.join('\n')}\n\n${corrupt.join('\n')}`);

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(Math.floor(n));
  let x = 12345;
  for (let i = 0; i < b.length; i++) b[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
}

/** ffmpeg's own reason, as the proxy logs it (clients get one generic answer); random bytes as MP3, the demuxer that resyncs. */
async function ffmpegOutcome(data: Buffer): Promise<string> {
  let reason = '';
  const logger = { debug: (details: object) => void (reason = (details as { detail: string }).detail) };
  try {
    const pcm = await decodeWithFfmpeg(data, { maxSeconds: 600, timeoutMs: 30_000, inputFormat: sniffContainer(data)?.ffmpegFormat ?? 'mp3', logger });
    return `decoded ${pcm.length / 4} samples`;
  } catch (error) {
    return `refused: ${(reason || (error as Error).message).slice(0, 90)}`;
  }
}

function napiOutcome(data: Buffer, name: string): string {
  const file = join(dir, `corrupt-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, data);
  return napiInChild(file, name).slice(0, 90);
}
