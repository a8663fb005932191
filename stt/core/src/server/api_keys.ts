import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket'; // request.ws
import { statusOf } from '../protocol/errors.js';
import { SettingsError } from '../settings.js';
import { KeyThrottle } from './key_throttle.js';
import { listensOnLoopback } from './origin_guard.js';

/**
 * The keys a stack accepts: `STT_API_KEYS` (comma separated) and/or a file of one key per line
 * (`STT_API_KEY_FILE`, for Docker and Kubernetes secrets). Empty: no keys, no checks. A key must
 * be presentable in an HTTP header, so only printable ASCII without spaces is taken.
 */
export function loadApiKeys(list: string | undefined, file: string | undefined, listName = 'STT_API_KEYS'): string[] {
  const keys = (list ?? '').split(',').map((key) => ({ key, from: listName }));
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new SettingsError(`STT_API_KEY_FILE ${file} cannot be read: ${(error as Error).message}`);
    }
    keys.push(...text.split('\n').filter((line) => !line.trimStart().startsWith('#')).map((key) => ({ key, from: 'STT_API_KEY_FILE' })));
  }
  const clean = keys.map((k) => ({ ...k, key: k.key.trim() })).filter((k) => k.key);
  for (const { key, from } of clean) {
    if (key.length < 16) throw new SettingsError(`${from}: every API key must have at least 16 characters`);
    // The key itself is never echoed: the message says which kind of character is wrong.
    if (!/^[\x21-\x7e]+$/.test(key)) throw new SettingsError(`${from}: an API key may hold only printable ASCII characters without spaces (it is sent in an HTTP header)`);
  }
  return [...new Set(clean.map((k) => k.key))];
}

const digest = (key: string) => createHash('sha256').update(key).digest();

/**
 * Whether this is a real WebSocket handshake to a socket route: an HTTP upgrade (what
 * @fastify/websocket marks `request.ws`) on a route built by registerSocketRoute. A plain request
 * that merely carries an Upgrade header is not one.
 */
function isHandshake(request: FastifyRequest): boolean {
  return request.ws === true && request.method === 'GET' && (request.routeOptions.config as { socketScaffold?: boolean } | undefined)?.socketScaffold === true;
}

/** Why a request is refused: its code from the error table, the message, and for a throttled address when to come back. */
export interface KeyRefusal {
  code: 'unauthorized' | 'too_many_attempts' | 'listen_only';
  message: string;
  retryAfterS?: number;
}

/** Wrong keys one client address may present per minute before it is answered 429 (STT_MAX_KEY_FAILURES). */
export const DEFAULT_MAX_KEY_FAILURES = 10;

/**
 * Checks the key a request presents: `Authorization: Bearer` (what the openai SDK sends),
 * `X-API-Key`, or for WebSocket handshakes `?api_key=` (a browser's WebSocket cannot set
 * headers). Keys are compared as fixed-length digests in constant time, against every key
 * (no early exit), so timing tells nothing about how much of a guess was right. Wrong keys are
 * counted per client address: past `maxFailures` a minute, the rest of that minute answers 429.
 * The right key is still taken meanwhile: an address may be shared (nginx in front, a NAT), and a
 * guesser there must not lock the streamer out.
 */
export class ApiKeys {
  private readonly digests: Buffer[];
  private readonly listenDigests: Buffer[];
  private readonly throttle: KeyThrottle;

  /** `listenKeys`: keys that may only listen to sessions (STT_LISTEN_KEYS): an overlay URL pasted into OBS can do no more. */
  constructor(keys: string[], maxFailures = DEFAULT_MAX_KEY_FAILURES, listenKeys: string[] = []) {
    this.digests = keys.map(digest);
    this.listenDigests = listenKeys.map(digest);
    this.throttle = new KeyThrottle(maxFailures);
  }

  get enabled(): boolean {
    return this.digests.length + this.listenDigests.length > 0;
  }

  /**
   * Why the request is refused, or undefined when it may pass. Never says which key was tried.
   * `listening`: the route only reads a session (a listen-only key is enough there).
   */
  refusal(request: FastifyRequest, listening = false): KeyRefusal | undefined {
    if (!this.enabled) return undefined;
    const handshake = isHandshake(request);
    const presented = presentedKey(request, handshake);
    if (presented === undefined) {
      return {
        code: 'unauthorized',
        message: handshake ? 'API key required: add ?api_key=... or an Authorization: Bearer header' : 'API key required: send Authorization: Bearer <key> or X-API-Key: <key>',
      };
    }
    const d = digest(presented);
    let ok = false;
    for (const k of this.digests) ok = timingSafeEqual(k, d) || ok;
    if (ok) return undefined;
    let listenOnly = false;
    for (const k of this.listenDigests) listenOnly = timingSafeEqual(k, d) || listenOnly;
    if (listenOnly) return listening ? undefined : { code: 'listen_only', message: 'this key may only listen to sessions (/ws/events, /captions): sending audio, settings and everything else need a key from STT_API_KEYS' };
    const retryAfterS = this.throttle.retryAfter(request.ip);
    if (retryAfterS !== undefined) {
      return { code: 'too_many_attempts', message: `too many wrong API keys from this address: try again in ${retryAfterS} s (STT_MAX_KEY_FAILURES)`, retryAfterS };
    }
    this.throttle.failed(request.ip);
    return { code: 'unauthorized', message: 'invalid API key' };
  }
}

function presentedKey(request: FastifyRequest, handshake: boolean): string | undefined {
  const auth = request.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header) return header.trim();
  if (handshake) {
    const q = (request.query as Record<string, unknown> | undefined)?.api_key;
    if (typeof q === 'string' && q) return q;
  }
  return undefined;
}

/**
 * The one API-key hook: added to a fastify scope, it guards exactly that scope's routes. A refused
 * request is answered at once, a WebSocket handshake included (before the upgrade, so a client
 * sees the 401 as OpenAI's refuses it, instead of a socket that opens and closes): 401 with
 * `WWW-Authenticate`, or 429 with `Retry-After` for an address over its wrong-key limit.
 * `errorBody` words the answer in the surface's own error shape.
 */
export function guardWithApiKeys(
  scope: FastifyInstance,
  keys: ApiKeys,
  errorBody: (code: KeyRefusal['code'], message: string, request: FastifyRequest) => object = (code, message) => ({ type: 'error', code, error: message }),
  /** Routes that only read a session, where a listen-only key passes. */
  listenRoutes: ReadonlySet<string> = new Set(),
): void {
  if (!keys.enabled) return;
  scope.addHook('onRequest', async (request, reply) => {
    const refusal = keys.refusal(request, listenRoutes.has(request.routeOptions.url ?? ''));
    if (!refusal) return;
    if (refusal.retryAfterS !== undefined) reply.header('retry-after', String(refusal.retryAfterS));
    else if (refusal.code === 'unauthorized') reply.header('www-authenticate', 'Bearer');
    return reply.code(statusOf(refusal.code)).send(errorBody(refusal.code, refusal.message, request));
  });
}

/** Says who can reach a service: anyone on the network without keys is worth a warning. */
export function warnIfOpen(log: { info(msg: string): void; warn(msg: string): void }, host: string, keysEnabled: boolean): void {
  if (keysEnabled) return log.info('API keys required on every route but /health and /ready');
  if (listensOnLoopback(host)) log.info(`no API keys set (STT_API_KEYS): listening on ${host}, reachable from this machine only`);
  else log.warn(`no API keys set (STT_API_KEYS) while listening on ${host}: anyone who can reach this port can use it`);
}
