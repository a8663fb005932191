import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoCanceller, DEFAULT_TRACKER, echoCancellerAvailable, SileroModel, UtteranceTracker, type EchoCanceller } from '../src/index.js';
import { cancelLive, echoScene, type EchoScene } from '../../../test/helpers/echo_scene.js';

/** Where the service's tracker would announce speech_start in `audio` (ms of audio). */
async function speechStarts(model: SileroModel, audio: Float32Array): Promise<number[]> {
  const tracker = new UtteranceTracker(DEFAULT_TRACKER);
  const starts: number[] = [];
  for (const p of await model.createStream().push(audio)) {
    const event = tracker.push(p);
    if (event?.type === 'speech_start') starts.push(event.offset_ms);
  }
  return starts;
}

const playbackOf = (scene: EchoScene) => [{ start: scene.referenceStart, pcm: scene.reference }];

/** Deterministic noise-like test signal (no Silero involved). */
function signal(length: number, seed = 1): Float32Array {
  const out = new Float32Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out[i] = (x / 2147483648 - 0.5) * 0.5;
  }
  return out;
}

function runChunked(ec: EchoCanceller, mic: Float32Array, sizes: number[]): Float32Array[] {
  const pieces: Float32Array[] = [];
  for (let pos = 0, k = 0; pos < mic.length; k++) {
    const n = sizes[k % sizes.length]!;
    pieces.push(ec.process(mic.subarray(pos, pos + n)));
    pos += n;
  }
  pieces.push(ec.drain());
  return pieces;
}

const join = (pieces: Float32Array[]) => {
  const out = new Float32Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

describe('echo canceller (speexdsp)', () => {
  let model: SileroModel;
  let echoOnly: EchoScene;
  let bargeIn: EchoScene;
  beforeAll(async () => {
    model = await SileroModel.load();
    echoOnly = echoScene();
    bargeIn = echoScene({ streamer: 'speechbrain/spk1_snt1.wav', overlapMs: 600 });
  });
  afterAll(async () => model.release());

  it('loads libspeexdsp here, and names the Debian package where the library is missing', () => {
    expect(echoCancellerAvailable()).toBe(true);
    expect(() => createEchoCanceller({ library: 'libspeexdsp-missing.so.9' })).toThrow(/libspeexdsp1/);
  });

  it('the scene is hard: on the raw microphone Silero takes the echo alone for speech', async () => {
    const starts = await speechStarts(model, echoOnly.mic);
    const [from, to] = echoOnly.vtuberSpanMs;
    expect(starts.some((ms) => ms >= from - 100 && ms < to)).toBe(true);
  });

  it('with the reference streamed live, Silero hears no echo and still hears the streamer barge in', async () => {
    const ec = createEchoCanceller();
    const cleanEcho = cancelLive(ec, echoOnly.mic, playbackOf(echoOnly), 512);
    ec.close();
    expect(await speechStarts(model, cleanEcho)).toEqual([]);

    const ec2 = createEchoCanceller();
    const clean = cancelLive(ec2, bargeIn.mic, playbackOf(bargeIn), 320);
    ec2.close();
    const starts = await speechStarts(model, clean);
    const streamerAt = bargeIn.streamerStartMs!;
    expect(streamerAt).toBeLessThan(bargeIn.vtuberSpanMs[1]); // it really talks over the VTuber
    // Nothing before the streamer speaks; the streamer found on the audio clock, not much later.
    expect(starts.length).toBeGreaterThan(0);
    expect(starts[0]!).toBeGreaterThanOrEqual(streamerAt - 64);
    expect(starts[0]! - streamerAt).toBeLessThan(300);
  });

  it('returns whole frames, holds less than one, and drains to exactly the input length, whatever the chunking', () => {
    const mic = signal(8000 + 77);
    const reference = signal(8000, 7);
    const outputs: Float32Array[] = [];
    for (const sizes of [[8077], [1], [159, 161, 1000], [320], [7, 3000, 160]]) {
      const ec = createEchoCanceller();
      ec.reference(reference); // all of it before any mic: it lays out from mic sample 0
      const pieces = runChunked(ec, mic, sizes);
      pieces.slice(0, -1).forEach((p) => expect(p.length % 160).toBe(0));
      expect(pieces.at(-1)!.length).toBeLessThan(160);
      outputs.push(join(pieces));
      ec.close();
    }
    for (const out of outputs) {
      expect(out.length).toBe(mic.length);
      expect(out).toEqual(outputs[0]); // the reference sits on the mic clock, not on chunk boundaries
    }
    expect(outputs[0]).not.toEqual(mic); // and it was really used
  });

  it('without reference the audio passes untouched; reference after the mic only affects later audio', () => {
    const mic = signal(8000, 3);
    const ec = createEchoCanceller();
    expect(join(runChunked(ec, mic, [333]))).toEqual(mic);
    // A drain mid-stream (a flush) keeps the clock: the reference sent now plays from here on.
    ec.reference(signal(4000, 9));
    const later = join([ec.process(mic), ec.drain()]);
    expect(later.length).toBe(mic.length);
    expect(later).not.toEqual(mic);
    expect(ec.drain().length).toBe(0);
    ec.close();
  });

  it('refuses use after close with a clear error, and bounds reference queued ahead of the mic', () => {
    const ec = createEchoCanceller({ maxReferenceAheadMs: 1000 });
    expect(() => ec.reference(new Float32Array(32_000))).toThrow(RangeError);
    ec.reference(new Float32Array(8000)); // what fits is still accepted
    ec.close();
    ec.close(); // twice is harmless
    expect(() => ec.process(new Float32Array(160))).toThrow(/process\(\) after close\(\)/);
    expect(() => ec.reference(new Float32Array(160))).toThrow(/reference\(\) after close\(\)/);
    expect(() => ec.drain()).toThrow(/drain\(\) after close\(\)/);
  });
});
