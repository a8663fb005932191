import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SPEECH_GATE, findSpeech, SileroModel } from '../src/index.js';
import { loadClip } from '../../../test/helpers/fixtures.js';

describe('Silero VAD', () => {
  let model: SileroModel;
  beforeAll(async () => {
    model = await SileroModel.load();
  });
  afterAll(async () => model.release());

  it('gives the same probabilities whatever the chunk size', async () => {
    const clip = loadClip('speechbrain/spk1_snt1.wav');
    const whole = await model.createStream().push(clip);
    const stream = model.createStream();
    const pieces: number[] = [];
    for (let i = 0; i < clip.length; i += 777) pieces.push(...(await stream.push(clip.subarray(i, i + 777))));
    expect(pieces.length).toBe(Math.floor(clip.length / 512));
    pieces.forEach((p, i) => expect(p).toBeCloseTo(whole[i]!, 5));
  });

  it('skips audio nobody may hear (muted): windows of probability 0 where it lies, no model run, and what follows heard afresh', async () => {
    const clip = loadClip('speechbrain/spk1_snt1.wav');
    const stream = model.createStream();
    const before = await stream.push(clip.subarray(0, 8000));
    const run = stream.windowsRun;
    expect(run).toBe(before.length);
    const skipped = await stream.skip(16_000);
    // The half window left over from before is completed by the skipped samples.
    expect(skipped).toEqual(new Array(Math.floor(((8000 % 512) + 16_000) / 512)).fill(0));
    expect(stream.windowsRun).toBe(run);
    const after = await stream.push(clip.subarray(8000));
    expect(before.length + skipped.length + after.length).toBe(Math.floor((clip.length + 16_000) / 512));
    // As a fresh stream that heard silence up to the same point of a window.
    const fresh = model.createStream();
    await fresh.push(new Float32Array((8000 + 16_000) % 512));
    const heard = await fresh.push(clip.subarray(8000));
    after.forEach((p, i) => expect(p).toBeCloseTo(heard[i]!, 6));
    expect(Math.max(...after)).toBeGreaterThan(0.5);
  });

  it('finds the speech in a spoken clip and trims around it', async () => {
    const clip = loadClip('speechbrain/spk1_snt1.wav');
    const span = findSpeech(await model.createStream().push(clip), clip.length, DEFAULT_SPEECH_GATE);
    expect(span).toBeDefined();
    expect(span!.speechWindows * 32).toBeGreaterThan(1000);
  });

  it.each(['generated/silence_10s.wav', 'generated/whitenoise_-30dBFS_10s.wav', 'generated/pinknoise_10s.wav', 'generated/tones_chord_8s.wav'])(
    'finds no speech in %s',
    async (file) => {
      const clip = loadClip(file);
      expect(findSpeech(await model.createStream().push(clip), clip.length, DEFAULT_SPEECH_GATE)).toBeUndefined();
    },
  );
});
