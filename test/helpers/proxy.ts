import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { parseProxyConfig, startProxy, type ProxyConfig, type ProxyOptions, type RunningProxy } from '@vtuber-stt/proxy';

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
