import { isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ErrorCode } from '../protocol/errors.js';
import { list } from '../settings.js';

/**
 * Who may call a stack that has no API keys: any web page the streamer opens can reach loopback,
 * so without keys the only guard is that a request be addressed to this server by one of its own
 * names (the Host header: DNS rebinding gives an attacker's name this server's address) and, when
 * a browser sends it, come from one of its own pages (the Origin header: browsers send it on every
 * WebSocket handshake and on every cross-origin POST or PUT, "simple" ones included).
 */
export interface OriginSettings {
  /**
   * Host names served besides `localhost`, `*.localhost` and IP addresses: exact names, `.name`
   * for a domain and its subdomains, or `*` for any (`STT_ALLOWED_HOSTS`).
   */
  allowedHosts: readonly string[];
  /** Origins of other sites whose pages may call, as `scheme://host[:port]`, or `*` (`STT_ALLOWED_ORIGINS`). */
  allowedOrigins: readonly string[];
}

export interface OriginRefusal {
  code: ErrorCode;
  message: string;
}

/** The host name (lower case, no brackets or trailing dot) and port of a Host header; undefined when malformed. */
function splitHost(value: string): { name: string; port?: string } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]\s/@]+)(?::(\d{1,5}))?$/i.exec(value.trim());
  if (!m) return undefined;
  return { name: m[1]!.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, ''), port: m[2] };
}

const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'ws:': '80', 'https:': '443', 'wss:': '443' };

/** `scheme://host[:port]` with default ports dropped, as browsers serialize an Origin; undefined if it is none. */
export function normalizeOrigin(value: string): string | undefined {
  try {
    const u = new URL(value);
    if (!(u.protocol in DEFAULT_PORT) || u.username || u.password || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

/**
 * Host names that cannot be an attacker's: loopback names (`localhost` and, by RFC 6761,
 * everything under it) and IP addresses. Rebinding needs a name the attacker controls; a page
 * reached by an address can only be this server's own. The same rule as Vite's dev server.
 */
function ownByNature(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost') || isIP(name) !== 0;
}

export class OriginGuard {
  private readonly anyHost: boolean;
  private readonly hosts: Set<string>;
  private readonly domains: string[];
  private readonly anyOrigin: boolean;
  private readonly origins: Set<string>;

  /** `anyHost`: a service reached by container or Service names it cannot know (it listens beyond loopback). */
  constructor(settings: OriginSettings, anyHost = false) {
    // A port given with a name is ignored: names are what rebinding forges.
    const hosts = settings.allowedHosts.map((h) => splitHost(h)?.name ?? h.trim().toLowerCase()).filter(Boolean);
    this.anyHost = anyHost || hosts.includes('*');
    this.domains = hosts.filter((h) => h.startsWith('.'));
    this.hosts = new Set(hosts.filter((h) => !h.startsWith('.')));
    const origins = settings.allowedOrigins.map((o) => o.trim()).filter(Boolean);
    this.anyOrigin = origins.includes('*');
    this.origins = new Set(
      origins
        .filter((o) => o !== '*')
        .map((o) => {
          const n = normalizeOrigin(o);
          if (!n) throw new Error(`STT_ALLOWED_ORIGINS: "${o}" is not an origin (scheme://host[:port], e.g. https://app.example.com) or *`);
          return n;
        }),
    );
  }

  private hostAllowed(name: string): boolean {
    return this.anyHost || ownByNature(name) || this.hosts.has(name) || this.domains.some((d) => name === d.slice(1) || name.endsWith(d));
  }

  /** Why this request is refused, or undefined when it may pass. */
  refusal(host: string | undefined, origin: string | undefined): OriginRefusal | undefined {
    const h = host === undefined ? undefined : splitHost(host);
    if (!this.anyHost && (!h || !this.hostAllowed(h.name))) {
      return {
        code: 'forbidden_host',
        message: `host name ${JSON.stringify((host ?? '').slice(0, 100))} is not served here: without API keys only localhost, IP addresses and the names in STT_ALLOWED_HOSTS are (DNS rebinding guard)`,
      };
    }
    if (origin === undefined || this.anyOrigin) return undefined;
    const o = normalizeOrigin(origin);
    if (o && (this.origins.has(o) || (h && sameOrigin(new URL(o), h)))) return undefined;
    return {
      code: 'forbidden_origin',
      message: `a page of another site (Origin ${JSON.stringify(origin.slice(0, 100))}) may not call this server without API keys: add its origin to STT_ALLOWED_ORIGINS, or set STT_API_KEYS`,
    };
  }
}

/** Whether a page of `origin` sent a request addressed to `host`: same name and port (the Host's default is the origin scheme's). */
function sameOrigin(origin: URL, host: { name: string; port?: string }): boolean {
  const name = origin.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const port = origin.port || DEFAULT_PORT[origin.protocol];
  return name === host.name && (host.port ?? DEFAULT_PORT[origin.protocol]) === port;
}

/** Whether a service listening on `host` is reached by loopback only (then it knows every name it is called by). */
export function listensOnLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * The one origin hook: added to an app before its routes, it answers a refused request 403 before
 * any other work, a WebSocket handshake included (before the upgrade: browsers and SDKs report
 * the status). `open` paths (probes: /health, /ready) pass. `errorBody` words the refusal in the
 * surface's own error shape.
 */
export function guardOrigins(
  app: FastifyInstance,
  guard: OriginGuard,
  errorBody: (code: ErrorCode, message: string, request: FastifyRequest) => object = (code, message) => ({ type: 'error', code, error: message }),
  open: readonly string[] = ['/health', '/ready'],
): void {
  app.addHook('onRequest', async (request, reply) => {
    if (open.includes(request.url.split('?', 1)[0]!)) return;
    const refusal = guard.refusal(request.headers.host, request.headers.origin);
    if (!refusal) return;
    return reply.code(403).send(errorBody(refusal.code, refusal.message, request));
  });
}

/** The schema of STT_ALLOWED_ORIGINS: origins as browsers send them, or `*`. */
export const originList = () =>
  list(z.string().refine((v) => v === '*' || normalizeOrigin(v) !== undefined, 'must be origins such as https://app.example.com (scheme://host[:port]), or *'));

/** The schema of STT_ALLOWED_HOSTS: host names (a port is ignored), `.domain` for a domain and its subdomains, or `*`. */
export const hostList = () =>
  list(z.string().regex(/^(\*|\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\])(:\d{1,5})?$/i, 'must be host names such as stt.example.com (.example.com for its subdomains too), or *'));
