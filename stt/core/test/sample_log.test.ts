import { describe, expect, it } from 'vitest';
import { SampleLog } from '../src/audio/sample_log.js';
import { AudioLog } from '../src/turns/audio_log.js';

const floats = (from: number, n: number) => Float32Array.from({ length: n }, (_, i) => from + i);
/** s16le samples whose values are their positions, as the CLI keeps them. */
const s16 = (from: number, n: number) => {
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE(from + i, i * 2);
  return b;
};
const s16Values = (pieces: Buffer[]) => pieces.flatMap((p) => Array.from({ length: p.length / 2 }, (_, i) => p.readInt16LE(i * 2)));
const floatValues = (pieces: Float32Array[]) => pieces.flatMap((p) => Array.from(p));

describe('audio on a sample clock (one buffer for the service, the CLI and the panel)', () => {
  it('as a ring, keeps whole chunks holding at least the newest keepSamples', () => {
    const ring = new SampleLog<Float32Array>({ keepSamples: 250 });
    for (let at = 0; at < 1000; at += 100) ring.push(floats(at, 100));
    // 300 samples kept: dropping the chunk at 700 would leave 200, under 250.
    expect([ring.start, ring.end]).toEqual([700, 1000]);
    expect(floatValues(ring.pieces(0, 2000))).toEqual(Array.from(floats(700, 300)));
  });

  it('cuts a range at both ends, without copying', () => {
    const chunks = [floats(0, 100), floats(100, 100), floats(200, 100)];
    const log = new SampleLog<Float32Array>();
    for (const c of chunks) log.push(c);
    const pieces = log.pieces(150, 230);
    expect(pieces.map((p) => p.length)).toEqual([50, 30]);
    expect(floatValues(pieces)).toEqual(Array.from(floats(150, 80)));
    expect(pieces[0]!.buffer).toBe(chunks[1]!.buffer);
    expect(log.pieces(300, 400)).toEqual([]);
    expect(log.pieces(120, 120).every((p) => p.length === 0)).toBe(true);
  });

  it('counts s16le Buffers in samples (two bytes each), as the CLI keeps its input', () => {
    const ring = new SampleLog<Buffer>({ unitsPerSample: 2, keepSamples: 150 });
    for (let at = 0; at < 512; at += 128) ring.push(s16(at, 128));
    expect([ring.start, ring.end]).toEqual([256, 512]);
    const pieces = ring.pieces(300, 400);
    expect(pieces.every((p) => Buffer.isBuffer(p))).toBe(true);
    expect(s16Values(pieces)).toEqual(Array.from({ length: 100 }, (_, i) => 300 + i));
  });

  it('trims whole chunks on request and skips empty ones', () => {
    const log = new SampleLog<Float32Array>();
    log.push(floats(0, 100));
    log.push(new Float32Array(0));
    log.push(floats(100, 100));
    log.trimBefore(150);
    expect([log.start, log.end]).toEqual([100, 200]);
    log.trimBefore(200);
    expect([log.start, log.end]).toEqual([200, 200]);
    expect(log.pieces(0, 300)).toEqual([]);
  });

  it('AudioLog copies a range out, clamped to what it keeps, so later trimming never changes it', () => {
    const log = new AudioLog();
    log.push(floats(0, 100));
    log.push(floats(100, 100));
    const copy = log.range(-50, 150);
    expect(Array.from(copy)).toEqual(Array.from(floats(0, 150)));
    log.trimBefore(100);
    expect(Array.from(copy)).toEqual(Array.from(floats(0, 150)));
    expect(Array.from(log.range(0, 1000))).toEqual(Array.from(floats(100, 100)));
    expect(log.range(180, 120).length).toBe(0);
  });
});
