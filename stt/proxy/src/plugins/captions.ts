import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { PANEL_CSP, securityHeaders } from '@vtuber-stt/core';

const CAPTIONS_DIR = fileURLToPath(new URL('../../captions', import.meta.url));

/**
 * `/captions?session=main`: a caption overlay for an OBS browser source (transparent, styled from
 * its query string). The page holds nothing but its code; the text comes over /ws/events, where
 * keys are checked (a listen-only key in `?key=` is enough).
 */
export async function captionsPlugin(app: FastifyInstance): Promise<void> {
  securityHeaders(app, PANEL_CSP);
  await app.register(fastifyStatic, { root: CAPTIONS_DIR, prefix: '/captions/', index: 'index.html', redirect: false, decorateReply: false });
  const page = readFileSync(join(CAPTIONS_DIR, 'index.html'));
  app.get('/captions', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
}
