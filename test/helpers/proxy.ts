import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import type { RunningService } from '@vtuber-stt/core';
import { parseProxyConfig, startProxy, type ProxyConfig, type ProxyOptions, type RunningProxy } from '@vtuber-stt/proxy';
import { startTestService } from './service.js';

/**
 * One transcription service and a proxy in front of it for a whole test file: started before its
 * tests, closed after them. Read the fields inside the tests (they are set by then).
 */
export function serviceBehindProxy(): { service: RunningService & { ws: string }; proxy: RunningProxy & { ws: string } } {
  const stack = {} as { service: RunningService & { ws: string }; proxy: RunningProxy & { ws: string } };
  beforeAll(async () => {
    stack.service = await startTestService();
    stack.proxy = await startTestProxy({ cpu: stack.service.url });
  });
  afterAll(async () => {
    await stack.proxy?.close();
    await stack.service?.close();
  });
  return stack;
}

/** A real proxy on an ephemeral port in front of the given service URLs. */
export async function startTestProxy(
  urls: { cpu: string; gpu?: string; detect?: string },
  overrides: Partial<ProxyConfig> = {},
  { logger, ...options }: ProxyOptions & { logger?: Logger } = {},
): Promise<RunningProxy & { ws: string }> {
  const config = parseProxyConfig(['node', 'proxy'], {
    PORT: '0',
    STT_CPU_URL: urls.cpu,
    STT_GPU_URL: urls.gpu ?? '',
    STT_DETECT_URL: urls.detect ?? '',
    STT_PROXY_STATE: join(mkdtempSync(join(tmpdir(), 'proxy-state-')), 'state.json'),
    STT_PROXY_POLL_MS: '500',
  });
  const proxy = await startProxy({ ...config, ...overrides }, logger ?? pino({ level: 'silent' }), options);
  return { ...proxy, ws: proxy.url.replace(/^http/, 'ws') };
}
