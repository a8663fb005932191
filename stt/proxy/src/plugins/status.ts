import type { FastifyInstance } from 'fastify';
import { statusOf } from '@vtuber-stt/core';
import { allBackends } from '../backend_pool.js';
import type { ProxyContext } from './context.js';

const GPU_TOGGLE_BODY_LIMIT = 1024;

/** `/api/status` and the GPU toggle, `/api/gpu`: what the control panel reads and sets. */
export async function statusPlugin(app: FastifyInstance, { backends, toggle, logger, choose }: ProxyContext): Promise<void> {
  app.setErrorHandler((error, _request, reply) => {
    const e = error as { code?: string; statusCode?: number; message: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(statusOf('body_too_large')).send({ error: `the body is larger than ${GPU_TOGGLE_BODY_LIMIT} bytes: send JSON {"enabled": true|false}`, code: 'body_too_large' });
    }
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: e.message, code: 'bad_message' });
    logger.error({ err: error }, 'status route failed');
    return reply.code(statusOf('internal_error')).send({ error: `internal error: ${e.message}`, code: 'internal_error' });
  });

  // The background poller keeps this current (STT_PROXY_POLL_MS): a panel refreshing every few
  // seconds costs the backends nothing extra.
  app.get('/api/status', async () => ({
    gpu_enabled: toggle.gpuEnabled,
    gpu_available: backends.gpu !== undefined,
    transcribe_route: choose().name,
    backends: Object.fromEntries(allBackends(backends).map((b) => [b.name, b.status()])),
  }));

  app.get('/api/gpu', async () => ({ enabled: toggle.gpuEnabled, available: backends.gpu !== undefined, ready: backends.gpu?.state === 'ready' }));
  // `{"enabled": false}` is 18 bytes: a larger body is refused before it is read.
  app.put('/api/gpu', { bodyLimit: GPU_TOGGLE_BODY_LIMIT }, async (request, reply) => {
    const body = request.body as { enabled?: unknown } | undefined;
    if (!body || typeof body.enabled !== 'boolean') return reply.code(statusOf('bad_message')).send({ error: 'body must be JSON {"enabled": true|false}', code: 'bad_message' });
    toggle.setGpuEnabled(body.enabled);
    logger.info(`GPU toggle ${body.enabled ? 'on' : 'off'}`);
    await backends.gpu?.poll();
    return { enabled: toggle.gpuEnabled, available: backends.gpu !== undefined, ready: backends.gpu?.state === 'ready', transcribe_route: choose().name };
  });
}
