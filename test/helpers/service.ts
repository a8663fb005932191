import pino from 'pino';
import { parseServiceConfig, startTranscribeService, type RunningService, type ServiceConfig } from '@vtuber-stt/core';
import { fixtureModel } from './fixtures.js';

/** A real transcription service on an ephemeral port, with the fixture model (full compute, no weights). */
export async function startTestService(overrides: Partial<ServiceConfig> = {}, env: Record<string, string> = {}): Promise<RunningService & { ws: string }> {
  const config = parseServiceConfig(
    { name: 'stt_test', port: 0, model: fixtureModel('base'), device: 'cpu' },
    ['node', 'test'],
    { STT_THREADS: '2', ...env },
  );
  const service = await startTranscribeService({ ...config, ...overrides }, { logger: pino({ level: 'silent' }) });
  await service.ready;
  return { ...service, ws: `${service.url.replace(/^http/, 'ws')}/ws/transcribe` };
}
