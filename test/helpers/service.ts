import pino from 'pino';
import { parseServiceConfig, startService, type RunningService, type ServiceConfig } from '@vtuber-stt/core';
import { fixtureModel } from './fixtures.js';
import { syntheticModel } from './synthetic_model.js';

/**
 * The words every test service's model says: 20 distinct tokens, one segment, then end-of-text.
 * Tiny's width and vocabulary (base's, so the words are the same) with one block a side instead
 * of four: the blocks are zero either way, so the text is the same and a decode costs a third to
 * a half of tiny's. No test times a decode; the benchmarks use the real shapes.
 */
export const TEST_MODEL = () => syntheticModel(fixtureModel('tiny'), 20, { layers: 1 });

/**
 * A real transcription service on an ephemeral port, with a synthetic model (real compute, known
 * words). Admission control is off unless a test sets STT_MAX_BUSY: tests send audio far faster
 * than a live stream, so their engines run busy by design (test/admission.test.ts tests admission).
 */
export async function startTestService(overrides: Partial<ServiceConfig> = {}, env: Record<string, string> = {}): Promise<RunningService & { ws: string }> {
  const config = parseServiceConfig(
    { name: 'stt_test', port: 0, model: TEST_MODEL(), device: 'cpu' },
    ['node', 'test'],
    { STT_MAX_BUSY: '1', ...env },
  );
  const service = await startService({ ...config, ...overrides }, { logger: pino({ level: 'silent' }) });
  await service.ready;
  return { ...service, ws: `${service.url.replace(/^http/, 'ws')}/ws/transcribe` };
}
