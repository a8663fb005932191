import type { FastifyInstance } from 'fastify';
import { statusOf } from '@vtuber-stt/core';
import { allBackends } from '../backends.js';
import type { ProxyContext } from './context.js';

/** `/api/status` and the GPU toggle, `/api/gpu`: what the control panel reads and sets. */
export async function statusPlugin(app: FastifyInstance, { backends, toggle, logger, choose }: ProxyContext): Promise<void> {
  // The background poller keeps this current (STT_PROXY_POLL_MS): a panel refreshing every few
  // seconds costs the backends nothing extra.
  app.get('/api/status', async () => ({
    gpu_enabled: toggle.gpuEnabled,
    gpu_available: backends.gpu !== undefined,
    transcribe_route: choose().name,
    backends: Object.fromEntries(allBackends(backends).map((b) => [b.name, b.status()])),
  }));

  app.get('/api/gpu', async () => ({ enabled: toggle.gpuEnabled, available: backends.gpu !== undefined, ready: backends.gpu?.state === 'ready' }));
  app.put('/api/gpu', async (request, reply) => {
    const body = request.body as { enabled?: unknown } | undefined;
    if (!body || typeof body.enabled !== 'boolean') return reply.code(statusOf('bad_message')).send({ error: 'body must be JSON {"enabled": true|false}', code: 'bad_message' });
    toggle.setGpuEnabled(body.enabled);
    logger.info(`GPU toggle ${body.enabled ? 'on' : 'off'}`);
    await backends.gpu?.poll();
    return { enabled: toggle.gpuEnabled, available: backends.gpu !== undefined, ready: backends.gpu?.state === 'ready', transcribe_route: choose().name };
  });
}
