import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../src/index.js';

const transcribe = { name: 't', port: 1, model: 'base', device: 'cpu' as const };
const detect = { ...transcribe, role: 'detect' as const, model: 'tiny', modelEnv: 'STT_TINY_MODEL' };

describe('service configuration', () => {
  it('leaves a core free for the detector and gives the detector one thread', () => {
    expect(parseServiceConfig(transcribe, ['node', 'x'], {}).threads).toBe(Math.max(1, Math.min(8, availableParallelism() - 1)));
    expect(parseServiceConfig(detect, ['node', 'x'], {}).threads).toBe(1);
  });

  it('reads variables, lets flags win, and treats an empty variable as unset', () => {
    expect(parseServiceConfig(transcribe, ['node', 'x'], { STT_THREADS: '3' }).threads).toBe(3);
    expect(parseServiceConfig(transcribe, ['node', 'x', '--threads', '5'], { STT_THREADS: '3' }).threads).toBe(5);
    expect(parseServiceConfig(detect, ['node', 'x'], { STT_THREADS: '' }).threads).toBe(1);
    expect(parseServiceConfig(detect, ['node', 'x'], { STT_TINY_MODEL: 'tiny.en', STT_MODEL: 'base' }).model).toBe('tiny.en');
  });

  it('keeps the tuned hysteresis gap when only the start threshold is set', () => {
    const c = parseServiceConfig(detect, ['node', 'x'], { STT_DETECT_THRESHOLD: '0.6' });
    expect(c.tracker.threshold).toBe(0.6);
    expect(c.tracker.negThreshold).toBeCloseTo(0.5, 10);
  });
});
