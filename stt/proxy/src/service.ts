import pino, { type Logger } from 'pino';
import { warnIfOpen } from '@vtuber-stt/core';
import type { FastifyInstance } from 'fastify';
import { Backend } from './backend.js';
import { allBackends, BackendPool, type Backends, type Resolver } from './backend_pool.js';
import type { ProxyConfig } from './config.js';
import { buildProxy } from './app.js';
import { ToggleStore } from './toggle_store.js';

export interface RunningProxy {
  app: FastifyInstance;
  url: string;
  backends: Backends;
  toggle: ToggleStore;
  close(): Promise<void>;
}

export interface ProxyOptions {
  /** How pool host names are resolved (default: the system resolver). */
  resolver?: Resolver;
}

export async function startProxy(config: ProxyConfig, logger?: Logger, options: ProxyOptions = {}): Promise<RunningProxy> {
  const log = logger ?? pino({ name: 'stt_proxy', level: config.logLevel });
  const headers: Record<string, string> = config.backendApiKey ? { authorization: `Bearer ${config.backendApiKey}` } : {};
  const backends: Backends = {
    cpu: new BackendPool('cpu', config.cpuUrls, options.resolver, headers),
    gpu: config.gpuUrls.length ? new BackendPool('gpu', config.gpuUrls, options.resolver, headers) : undefined,
    detect: config.detectUrl ? new Backend('detect', config.detectUrl, undefined, headers) : undefined,
  };
  const toggle = new ToggleStore(config.statePath);
  const app = await buildProxy({ config, backends, toggle, logger: log });
  await Promise.all(allBackends(backends).map((b) => b.poll()));
  const timer = setInterval(() => void Promise.all(allBackends(backends).map((b) => b.poll())), config.pollMs);
  timer.unref();
  await app.listen({ host: config.host, port: config.port });
  warnIfOpen(log, config.host, config.apiKeys.length > 0);
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `${config.tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const summary = allBackends(backends)
    .map((b) => `${b.name} ${b.url} (${b.state})`)
    .join(', ');
  log.info(`stt_proxy ready: control panel ${url}/, ${url.replace(/^http/, 'ws')}/ws/transcribe and /ws/detect; backends ${summary}; GPU toggle ${toggle.gpuEnabled ? 'on' : 'off'}`);
  return {
    app,
    url,
    backends,
    toggle,
    async close() {
      clearInterval(timer);
      await app.close();
    },
  };
}
