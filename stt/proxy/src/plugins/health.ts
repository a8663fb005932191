import type { FastifyInstance } from 'fastify';
import type { ProxyContext } from './context.js';

/** `/health` (alive), `/ready` (a transcription backend is ready), `/metrics` (Prometheus). */
export async function healthPlugin(app: FastifyInstance, { backends, toggle, metrics }: ProxyContext): Promise<void> {
  app.get('/health', async () => ({ ok: true, service: 'stt_proxy' }));
  app.get('/ready', async (_req, reply) => {
    const ready = [backends.cpu, backends.gpu].some((b) => b?.state === 'ready');
    return reply.code(ready ? 200 : 503).send({ ready, service: 'stt_proxy', gpu_enabled: toggle.gpuEnabled });
  });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
}
