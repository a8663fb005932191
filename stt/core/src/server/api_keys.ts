import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * The keys a stack accepts: `STT_API_KEYS` (comma separated) and/or a file of one key per line
 * (`STT_API_KEY_FILE`, for Docker and Kubernetes secrets). Empty: no keys, no checks.
 */
export function loadApiKeys(list: string | undefined, file: string | undefined): string[] {
  const keys = (list ?? '').split(',');
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(`STT_API_KEY_FILE ${file} cannot be read: ${(error as Error).message}`);
    }
    keys.push(...text.split('\n').filter((line) => !line.trimStart().startsWith('#')));
  }
  const clean = [...new Set(keys.map((k) => k.trim()).filter(Boolean))];
  for (const k of clean) if (k.length < 16) throw new Error('every API key must have at least 16 characters');
  return clean;
}

const digest = (key: string) => createHash('sha256').update(key).digest();

/** Whether a WebSocket handshake, which browsers cannot give headers, is asking. */
function isUpgrade(request: FastifyRequest): boolean {
  return (request.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/**
 * Checks the key a request presents: `Authorization: Bearer` (what the openai SDK sends),
 * `X-API-Key`, or for WebSocket handshakes `?api_key=` (a browser's WebSocket cannot set
 * headers). Keys are compared as fixed-length digests in constant time, against every key
 * (no early exit), so timing tells nothing about how much of a guess was right.
 */
export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: string[]) {
    this.digests = keys.map(digest);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Why the request is refused, or undefined when it may pass. Never says which key was tried. */
  refusal(request: FastifyRequest): string | undefined {
    if (!this.enabled) return undefined;
    const presented = presentedKey(request);
    if (presented === undefined) {
      return isUpgrade(request)
        ? 'API key required: add ?api_key=... or an Authorization: Bearer header'
        : 'API key required: send Authorization: Bearer <key> or X-API-Key: <key>';
    }
    const d = digest(presented);
    let ok = false;
    for (const k of this.digests) ok = timingSafeEqual(k, d) || ok;
    return ok ? undefined : 'invalid API key';
  }
}

function presentedKey(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header) return header.trim();
  if (isUpgrade(request)) {
    const q = (request.query as Record<string, unknown> | undefined)?.api_key;
    if (typeof q === 'string' && q) return q;
  }
  return undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by a guard of the route's scope: the WebSocket route closes the connection 1008 with it. */
    socketRefusal?: string;
  }
}

/**
 * The one API-key hook: added to a fastify scope, it guards exactly that scope's routes. HTTP is
 * answered 401 at once; a WebSocket handshake is let through to be closed 1008 with the reason
 * (a browser cannot read a refused handshake's status), before its first frame is read.
 * `errorBody` words the 401 in the surface's own error shape.
 */
export function guardWithApiKeys(
  scope: FastifyInstance,
  keys: ApiKeys,
  errorBody: (message: string, request: FastifyRequest) => object = (message) => ({ type: 'error', code: 'unauthorized', error: message }),
): void {
  if (!keys.enabled) return;
  scope.addHook('onRequest', async (request, reply) => {
    const refusal = keys.refusal(request);
    if (!refusal) return;
    // Only a route built by registerSocketRoute closes a refused socket itself; any other is
    // refused here, which costs the client the reason but never lets it in.
    if (isUpgrade(request) && (request.routeOptions.config as { socketScaffold?: boolean } | undefined)?.socketScaffold) {
      request.socketRefusal = refusal;
      return;
    }
    return reply.code(401).header('www-authenticate', 'Bearer').send(errorBody(refusal, request));
  });
}

/** Says who can reach a service: anyone on the network without keys is worth a warning. */
export function warnIfOpen(log: { info(msg: string): void; warn(msg: string): void }, host: string, keysEnabled: boolean): void {
  if (keysEnabled) return log.info('API keys required on every route but /health and /ready');
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
  if (loopback) log.info(`no API keys set (STT_API_KEYS): listening on ${host}, reachable from this machine only`);
  else log.warn(`no API keys set (STT_API_KEYS) while listening on ${host}: anyone who can reach this port can use it`);
}
