import { describe, expect, it } from 'vitest';
import { AbortedError, audioCtxFor, chooseDevice, DeviceError, InferenceQueue, parseDeviceRequest, QueueFullError, type DeviceProbe } from '../src/index.js';

describe('audio_ctx sizing', () => {
  const policy = { enabled: true, floor: 128 };
  it('covers the whole utterance with headroom, in steps of 32 frames', () => {
    expect(audioCtxFor(5 * 16000, policy)).toBe(288); // 250 frames + 16 -> 288
    expect(audioCtxFor(2 * 16000, policy)).toBe(128); // floor
    for (const s of [1, 3.3, 7, 12, 20, 29]) {
      const ctx = audioCtxFor(s * 16000, policy);
      expect(ctx).toBeGreaterThanOrEqual(Math.ceil(s * 50));
      expect(ctx % 32).toBe(0);
    }
  });
  it('uses the full window past 30 s and when switched off', () => {
    expect(audioCtxFor(30 * 16000, policy)).toBe(0);
    expect(audioCtxFor(45 * 16000, policy)).toBe(0);
    expect(audioCtxFor(5 * 16000, { enabled: false, floor: 128 })).toBe(0);
    expect(audioCtxFor(5 * 16000, { enabled: true, floor: 512 })).toBe(512);
  });
});

describe('inference queue', () => {
  const deferred = () => {
    let resolve!: (v: string) => void;
    const promise = new Promise<string>((r) => (resolve = r));
    return { promise, resolve };
  };

  it('runs one job at a time, in order', async () => {
    const q = new InferenceQueue(4);
    const order: string[] = [];
    const a = deferred();
    const pa = q.push(async () => (order.push('a start'), a.promise));
    const pb = q.push(async () => (order.push('b start'), 'b'));
    expect(q.depth).toBe(2);
    await Promise.resolve();
    expect(order).toEqual(['a start']);
    a.resolve('a');
    expect(await pa).toBe('a');
    expect(await pb).toBe('b');
    expect(order).toEqual(['a start', 'b start']);
    expect(q.depth).toBe(0);
  });

  it('refuses work past its bound with a named error', async () => {
    const q = new InferenceQueue(1);
    const a = deferred();
    const running = q.push(() => a.promise);
    const waiting = q.push(async () => 'x');
    await expect(q.push(async () => 'y')).rejects.toBeInstanceOf(QueueFullError);
    await expect(q.push(async () => 'y')).rejects.toThrow(/queue is full \(1 waiting, STT_MAX_QUEUE\)/);
    a.resolve('a');
    await Promise.all([running, waiting]);
  });

  it('drops a waiting job whose client went away, without running it', async () => {
    const q = new InferenceQueue(4);
    const a = deferred();
    const running = q.push(() => a.promise);
    const controller = new AbortController();
    let ran = false;
    const cancelled = q.push(async () => ((ran = true), 'no'), controller.signal);
    controller.abort();
    await expect(cancelled).rejects.toBeInstanceOf(AbortedError);
    a.resolve('a');
    await running;
    expect(ran).toBe(false);
    expect(q.depth).toBe(0);
  });
});

describe('device selection', () => {
  const probe = (gpu: boolean, engine: boolean): DeviceProbe => ({ gpuPresent: () => gpu, gpuEngineAvailable: async () => engine });

  it('uses the GPU when asked and available', async () => {
    expect((await chooseDevice('gpu', probe(true, true))).device).toBe('gpu');
    expect((await chooseDevice('auto', probe(true, true))).device).toBe('gpu');
  });
  it('refuses to start on gpu without one, saying why', async () => {
    await expect(chooseDevice('gpu', probe(false, false))).rejects.toThrow(/no NVIDIA GPU is visible/);
    await expect(chooseDevice('gpu', probe(true, false))).rejects.toThrow(/no CUDA build of whisper.cpp/);
    await expect(chooseDevice('gpu', probe(false, false))).rejects.toBeInstanceOf(DeviceError);
  });
  it('falls back to CPU on auto and says so', async () => {
    const c = await chooseDevice('auto', probe(false, true));
    expect(c.device).toBe('cpu');
    expect(c.reason).toMatch(/fell back to CPU/);
    expect((await chooseDevice('cpu', probe(true, true))).device).toBe('cpu');
  });
  it('parses STT_DEVICE', () => {
    expect(parseDeviceRequest(undefined)).toBe('auto');
    expect(parseDeviceRequest('CUDA')).toBe('gpu');
    expect(() => parseDeviceRequest('tpu')).toThrow(/cpu, gpu or auto/);
  });
});
