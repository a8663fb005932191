import type { FastifyInstance } from 'fastify';
import type { ProxyContext } from './context.js';

/** `/health` (alive) and `/ready` (a transcription backend is ready): open to probes, never behind a key. */
export async function healthPlugin(app: FastifyInstance, { backends, toggle }: ProxyContext): Promise<void> {
  app.get('/health', async () => ({ ok: true, service: 'stt_proxy' }));
  app.get('/ready', async (_req, reply) => {
    const ready = [backends.cpu, backends.gpu].some((b) => b?.state === 'ready');
    return reply.code(ready ? 200 : 503).send({ ready, service: 'stt_proxy', gpu_enabled: toggle.gpuEnabled });
  });
}

/** `/metrics` (Prometheus). */
export async function metricsPlugin(app: FastifyInstance, { metrics }: ProxyContext): Promise<void> {
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
}
