import { describe, expect, it } from 'vitest';
import { decodePcm, decodeWav, encodeS16le, encodeWav, PcmFormatError, resample, StreamingResampler } from '../src/index.js';

const sine = (freq: number, rate: number, seconds: number, amp = 0.5) =>
  Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / rate));

/** Dominant frequency by zero crossings: enough to tell 440 Hz from an alias. */
const zeroCrossingHz = (x: Float32Array, rate: number) => {
  let n = 0;
  for (let i = 1; i < x.length; i++) if (x[i - 1]! < 0 !== x[i]! < 0) n++;
  return n / 2 / (x.length / rate);
};
const rms = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);

describe('PCM decoding', () => {
  it('decodes s16le and f32le to float32', () => {
    const s16 = Buffer.alloc(4);
    s16.writeInt16LE(16384, 0);
    s16.writeInt16LE(-32768, 2);
    expect(Array.from(decodePcm(s16, { sampleRate: 16000, encoding: 's16le', channels: 1 }))).toEqual([0.5, -1]);
    const f32 = Buffer.from(new Float32Array([0.25, Number.NaN, 7]).buffer);
    expect(Array.from(decodePcm(f32, { sampleRate: 16000, encoding: 'f32le', channels: 1 }))).toEqual([0.25, 0, 1]);
  });

  it('mixes channels down to mono', () => {
    const stereo = Buffer.from(new Float32Array([0.5, -0.5, 1, 0]).buffer);
    expect(Array.from(decodePcm(stereo, { sampleRate: 16000, encoding: 'f32le', channels: 2 }))).toEqual([0, 0.5]);
  });

  it('refuses partial samples with a message naming the sample size', () => {
    expect(() => decodePcm(Buffer.alloc(3), { sampleRate: 16000, encoding: 's16le', channels: 1 })).toThrow(PcmFormatError);
    expect(() => decodePcm(Buffer.alloc(6), { sampleRate: 16000, encoding: 'f32le', channels: 1 })).toThrow(/4 bytes each/);
  });

  it('round-trips through s16le', () => {
    const x = sine(440, 16000, 0.1);
    const back = decodePcm(encodeS16le(x), { sampleRate: 16000, encoding: 's16le', channels: 1 });
    back.forEach((v, i) => expect(Math.abs(v - x[i]!)).toBeLessThan(1e-4));
  });
});

describe('WAV', () => {
  it('reads what it writes, and skips chunks before data', () => {
    const x = sine(300, 16000, 0.5);
    const wav = encodeWav(x, 16000);
    const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([4, 0, 0, 0]), Buffer.from('INFO')]);
    const withList = Buffer.concat([wav.subarray(0, 36), list, wav.subarray(36)]);
    for (const bytes of [wav, withList]) {
      const d = decodeWav(bytes);
      expect(d.sampleRate).toBe(16000);
      expect(d.samples.length).toBe(x.length);
    }
  });

  it('rejects what is not 16-bit or float PCM WAV', () => {
    expect(() => decodeWav(Buffer.from('not a wav file at all'))).toThrow(/RIFF/);
    const wav = encodeWav(sine(300, 16000, 0.1), 16000);
    wav.writeUInt16LE(8, 34); // 8-bit
    expect(() => decodeWav(wav)).toThrow(/unsupported WAV sample format/);
  });
});

describe('resampling', () => {
  it('keeps pitch, level and duration from 48 kHz and 44.1 kHz', () => {
    for (const rate of [48000, 44100, 8000]) {
      const out = resample(sine(440, rate, 1), rate, 16000);
      expect(Math.abs(out.length - 16000)).toBeLessThanOrEqual(1);
      expect(zeroCrossingHz(out, 16000)).toBeCloseTo(440, -1);
      expect(rms(out.subarray(200, -200))).toBeCloseTo(0.5 / Math.SQRT2, 2);
    }
  });

  it('removes content above the new Nyquist instead of aliasing it', () => {
    const out = resample(sine(12000, 48000, 1), 48000, 16000); // 12 kHz would alias to 4 kHz
    expect(rms(out.subarray(200, -200))).toBeLessThan(0.02);
  });
});

describe('streaming resampling', () => {
  it('gives the same samples chunk by chunk as in one piece', () => {
    for (const rate of [48000, 44100, 22050, 8000]) {
      const x = sine(523, rate, 0.7);
      const whole = resample(x, rate, 16000);
      const r = new StreamingResampler(rate, 16000);
      const parts: number[] = [];
      for (let i = 0; i < x.length; i += 1234) parts.push(...r.push(x.subarray(i, i + 1234)));
      parts.push(...r.end());
      expect(parts.length).toBe(whole.length);
      parts.forEach((v, i) => expect(v).toBeCloseTo(whole[i]!, 6));
    }
  });
});
