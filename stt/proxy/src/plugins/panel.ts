import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { PANEL_CSP, securityHeaders } from '@vtuber-stt/core';
import type { ProxyContext } from './context.js';

/** The control panel at `/` (built by `npm run build:panel`), or a note saying how to build it. */
export async function panelPlugin(app: FastifyInstance, { config }: ProxyContext): Promise<void> {
  // The page runs in the streamer's browser with the microphone: only its own code, never framed.
  securityHeaders(app, PANEL_CSP);
  if (existsSync(config.panelDir)) {
    await app.register(fastifyStatic, { root: config.panelDir, prefix: '/' });
    return;
  }
  app.get('/', async (_req, reply) => reply.type('text/plain; charset=utf-8').send(`control panel not built: run "npm run build:panel" (looked in ${config.panelDir})\n`));
}
