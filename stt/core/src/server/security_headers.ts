import type { FastifyInstance } from 'fastify';

/** For JSON and other API answers: nothing in them is run, framed or sniffed as another type. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * The control panel's page (vite's build: module scripts, a stylesheet and the audio worklet from
 * its own origin, a `data:` favicon, sockets back to its origin), never framed. `ws:`/`wss:`
 * because older browsers do not count a socket to the page's own host as 'self'.
 */
export const PANEL_CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * Security headers on every answer of a fastify scope: `nosniff`, no framing, no referrer, and
 * the scope's Content-Security-Policy (a scope inside another overrides its CSP).
 */
export function securityHeaders(app: FastifyInstance, csp = API_CSP): void {
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('content-security-policy', csp);
  });
}
