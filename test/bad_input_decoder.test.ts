import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, encodeWav, type RunningService } from '@vtuber-stt/core';
import { audioFile, type DecodeSettings } from '../stt/proxy/src/decode/audio_input.js';
import { UNDECODABLE_MESSAGE } from '../stt/proxy/src/decode/errors.js';
import { ffmpegArgs } from '../stt/proxy/src/decode/ffmpeg.js';
import { sniffContainer } from '../stt/proxy/src/decode/sniff.js';
import { MAGICS, TRICKS, trickUploads } from './helpers/decoder_tricks.js';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';

/**
 * Issue 18, item 1: an upload must never make the decoder read anything but itself. Each container
 * trick (HLS playlist, concat script, SDP, subfile:/data:/file: URLs) behind each magic the proxy
 * sniffs is refused with one answer that says nothing about the server's files; ordinary files,
 * ID3-tagged ones and files of up to 64 channels are still decoded.
 */

const WORDS = syntheticText(fixtureModel('base'), 20);
const SHORT = audioPath('speechbrain/spk1_snt1.wav');
const dir = mkdtempSync(join(tmpdir(), 'bad-decoder-'));
const json = (r: Response): Promise<any> => r.json();
/** 0.7 s of fixture speech, for uploads that must only be transcribed (the tricks point at the longer SHORT). */
const briefClip = loadClip('picovoice-leopard/test_en.wav').subarray(8000, 8000 + 11200);
const BRIEF = join(dir, 'brief.wav');
writeFileSync(BRIEF, encodeWav(briefClip, 16000));

/** `source` encoded by ffmpeg with `args` into `dir/name`. */
function make(name: string, args: string[], source = SHORT): string {
  const out = join(dir, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', source, ...args, out]);
  return out;
}

/** A plain (format 1, no channel mask) 16-bit WAV of the brief fixture clip in every one of `channels`. */
function multichannelWav(channels: number): Buffer {
  const mono = encodeS16le(briefClip);
  const samples = new Int16Array(mono.buffer, mono.byteOffset, mono.length / 2);
  const all = new Int16Array(samples.length * channels);
  for (let frame = 0; frame < samples.length; frame++) all.fill(samples[frame]!, frame * channels, (frame + 1) * channels);
  const data = Buffer.from(all.buffer);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(16000, 24);
  h.writeUInt32LE(16000 * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

describe('the decoder reads the upload and nothing else (issue 18)', () => {
  let service: RunningService;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  /** A real audio file on the server that every trick points at, one that is not there, and a file that is not audio. */
  let real: string;
  const missing = join(dir, 'missing.mp3');
  const passwd = '/etc/passwd';
  let inline: Buffer;
  const logged: string[] = [];
  const settings: DecodeSettings = { maxSeconds: 60, timeoutMs: 20_000, logger: { debug: (d) => void logged.push(JSON.stringify(d)) } };

  const postForm = (bytes: Buffer, path = '/v1/audio/transcriptions') => {
    const f = new FormData();
    f.append('file', new Blob([bytes]), 'upload.mp3');
    f.append('model', 'whisper-1');
    return fetch(`${proxy.url}${path}`, { method: 'POST', body: f });
  };
  const postBody = (bytes: Buffer) => fetch(`${proxy.url}/api/transcribe`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  const stillServes = async () => {
    const r = await postForm(readFileSync(make('ok.mp3', ['-c:a', 'libmp3lame', '-b:a', '32k'], BRIEF)));
    expect(await json(r)).toEqual({ text: WORDS, languages: [{ code: 'en' }] });
  };

  beforeAll(async () => {
    real = make('real.mp3', ['-c:a', 'libmp3lame', '-b:a', '32k']);
    inline = readFileSync(real);
    service = await startTestService();
    proxy = await startTestProxy({ cpu: service.url });
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('names a demuxer for every sniffed type, reading past ID3 tags to the real magic', async () => {
    for (const [magic, wrap] of Object.entries(MAGICS)) expect(sniffContainer(wrap(Buffer.from('x'.repeat(400))))?.ffmpegFormat, magic).toBeTruthy();
    // ID3 tags (ID3v2.3 and v2.4 as ffmpeg writes them) before MP3, AAC (ADTS) and FLAC.
    const mp3 = readFileSync(make('tagged.mp3', ['-metadata', 'title=hello', '-id3v2_version', '3', '-c:a', 'libmp3lame']));
    const aac = readFileSync(make('tagged.aac', ['-metadata', 'title=hi', '-c:a', 'aac', '-f', 'adts', '-write_id3v2', '1']));
    const tagEnd = (b: Buffer) => 10 + ((b[6]! << 21) | (b[7]! << 14) | (b[8]! << 7) | b[9]!);
    const flac = Buffer.concat([mp3.subarray(0, tagEnd(mp3)), readFileSync(make('plain.flac', ['-c:a', 'flac']))]);
    // A footer flag (0x10) puts 10 more bytes after the tag; a second tag may follow the first.
    const footer = Buffer.concat([Buffer.from('ID3\x04\0\x10\0\0\0\x02TT3DI\x04\0\x10\0\0\0\x02', 'latin1'), aac.subarray(tagEnd(aac))]);
    const twoTags = Buffer.concat([Buffer.from('ID3\x03\0\0\0\0\0\0', 'latin1'), flac]);
    const cases: [string, Buffer, string][] = [['mp3', mp3, 'mp3'], ['aac', aac, 'aac'], ['flac', flac, 'flac'], ['footer', footer, 'aac'], ['two tags', twoTags, 'flac']];
    for (const [label, bytes, format] of cases) expect(sniffContainer(bytes)?.ffmpegFormat, label).toBe(format);
    for (const bytes of [mp3, aac, flac, footer, twoTags]) expect((await audioFile(bytes, settings)).pcm.length).toBeGreaterThan(64_000 * 2.5);
  });

  it('lets ffmpeg open only the one file, through one demuxer, even a playlist demuxer', () => {
    const args = ffmpegArgs('/tmp/x', { inputFormat: 'mov' });
    expect(args.join(' ')).toContain('-protocol_whitelist file -format_whitelist mov -f mov -enable_drefs 0 -use_absolute_path 0 -xerror -i file:/tmp/x');
    // Were a playlist or concat demuxer ever named, the whitelists still keep it from the file it
    // points at; without them, the same input reads it (so this check can fail).
    const decode = (input: string, format: string, whitelisted: boolean) => {
      const all = ffmpegArgs(input, { inputFormat: format as never });
      const cut = whitelisted ? all : all.filter((a, i) => !/_whitelist$/.test(a) && !/_whitelist$/.test(all[i - 1] ?? ''));
      return spawnSync('ffmpeg', cut, { maxBuffer: 1 << 26 }).stdout.length;
    };
    // (concat's own safe mode refuses absolute paths, not relative ones.)
    for (const [format, text] of [['hls', TRICKS['file: URL']!(real, inline)], ['concat', TRICKS.concat!('real.mp3', inline)]] as const) {
      const input = join(dir, `${format}.txt`);
      writeFileSync(input, text);
      expect(decode(input, format, true), format).toBe(0);
      expect(decode(input, format, false), format).toBeGreaterThan(64_000 * 2.5);
    }
  });

  it('refuses every trick behind every magic with one generic error, and logs the reason', async () => {
    const uploads = trickUploads(real, inline);
    expect(uploads).toHaveLength(Object.keys(MAGICS).length * Object.keys(TRICKS).length);
    logged.length = 0;
    const outcomes = await Promise.all(uploads.map(({ bytes }) => audioFile(bytes, settings).then(() => 'decoded', (e: Error & { code?: string }) => `${e.code}: ${e.message}`)));
    outcomes.forEach((outcome, i) => expect(outcome, uploads[i]!.label).toBe(`bad_audio: ${UNDECODABLE_MESSAGE}`));
    // ffmpeg's own reason goes to the log, for the operator.
    expect(logged).toHaveLength(uploads.length);
    expect(logged.join('\n')).toMatch(/Invalid data found|could not find codec parameters|Header missing/);
  });

  it('answers each trick through both routes with the same 400, whatever it points at, and keeps serving', async () => {
    const magics = Object.entries(MAGICS);
    const tricks = Object.entries(TRICKS);
    // The exact upload, then one trick per magic in turn (every trick appears).
    const cases = [{ label: 'issue: ID3 + HLS of a file: URL', make: (t: string) => MAGICS.ID3!(Buffer.from(TRICKS['file: URL']!(t, inline))) }];
    magics.forEach(([magic, wrap], i) => {
      const [trick, text] = tricks[i % tricks.length]!;
      cases.push({ label: `${trick} behind ${magic}`, make: (t) => wrap(Buffer.from(text(t, inline))) });
    });
    for (const { label, make: upload } of cases) {
      const answers = await Promise.all(
        [real, missing, passwd].flatMap((target) => [postForm(upload(target)), postBody(upload(target))].map(async (p) => {
          const r = await p;
          return { status: r.status, body: await r.text() };
        })),
      );
      const [form, rest] = [answers.filter((_, i) => i % 2 === 0), answers.filter((_, i) => i % 2 === 1)];
      expect(form[0]!.status, label).toBe(400);
      expect(JSON.parse(form[0]!.body), label).toEqual({ error: { message: UNDECODABLE_MESSAGE, type: 'invalid_request_error', param: 'file', code: 'bad_audio' } });
      expect(rest[0]!.status, label).toBe(400);
      expect(JSON.parse(rest[0]!.body), label).toEqual({ error: UNDECODABLE_MESSAGE, code: 'bad_audio' });
      // An existing file, a missing one and a file that is not audio: not one byte of difference.
      for (const same of [form, rest]) expect(new Set(same.map((a) => a.body)).size, label).toBe(1);
    }
    await stillServes();
  });

  it('downmixes files of more than 8 channels (up to 64) to mono', async () => {
    // Through both routes: 32 channels of the fixture clip, transcribed (0.7 s of it).
    const wav32 = multichannelWav(32);
    expect(await json(await postForm(wav32))).toEqual({ text: WORDS, languages: [{ code: 'en' }] });
    const rest = await fetch(`${proxy.url}/api/transcribe?language=en`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: wav32 });
    expect(await json(rest)).toMatchObject({ text: WORDS, audio_ms: 700 });
    // 64 channels, and a 32-channel Ogg Opus: the mix is the clip itself.
    const clip = briefClip;
    const inputs = Array.from({ length: 32 }, () => ['-i', BRIEF]).flat();
    execFileSync('ffmpeg', ['-v', 'error', '-y', ...inputs, '-filter_complex', `amerge=inputs=32`, '-c:a', 'libopus', '-mapping_family', '255', join(dir, 'ch32.ogg')]);
    for (const bytes of [multichannelWav(64), readFileSync(join(dir, 'ch32.ogg'))]) {
      const audio = await audioFile(bytes, settings);
      const mixed = new Float32Array(audio.pcm.buffer, audio.pcm.byteOffset, audio.pcm.length / 4);
      expect(Math.abs(mixed.length - clip.length)).toBeLessThan(1000);
      const peak = (xs: Float32Array) => xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      expect(peak(mixed)).toBeCloseTo(peak(clip), 1);
    }
    // Past ffmpeg's limit: a clear answer before any decoding.
    const wav65 = multichannelWav(65).subarray(0, 44 + 65 * 2 * 100);
    wav65.writeUInt32LE(65 * 2 * 100, 40);
    await expect(audioFile(wav65, settings)).rejects.toThrow('the file has 65 channels; at most 64 can be mixed down to mono');
    await stillServes();
  });
});
