import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { ConnectionGate } from '@vtuber-stt/core';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Backend } from '../backend.js';
import type { Backends, WaitForMember } from '../backend_pool.js';
import type { ProxyConfig } from '../config.js';
import type { SessionHub } from '../sessions/session_hub.js';
import type { ToggleStore } from '../toggle_store.js';
import { refusalOf } from '../upstream_error.js';

/** Metrics every surface reports into; one registry, served by the health plugin. */
export interface ProxyMetrics {
  registry: Registry;
  requests: Counter<'route' | 'backend' | 'outcome'>;
  sessions: Gauge<'route'>;
  /** Clients refused because every member they were tried on refused them (at_capacity). */
  refusals: Counter<'route' | 'reason'>;
  /** Requests and sessions held because no member was ready (a restart), by surface. */
  held: Counter<'surface'>;
}

export function createMetrics(): ProxyMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'stt_proxy' });
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({ name: 'stt_proxy_requests_total', help: 'Requests by route, backend and outcome', labelNames: ['route', 'backend', 'outcome'] as const, registers: [registry] }),
    sessions: new Gauge({ name: 'stt_proxy_sessions', help: 'Open relayed WebSocket sessions', labelNames: ['route'] as const, registers: [registry] }),
    held: new Counter({ name: 'stt_proxy_held_total', help: 'Requests and sessions held for a transcription member to come back (STT_PROXY_HOLD_MS), by surface', labelNames: ['surface'] as const, registers: [registry] }),
    refusals: new Counter({ name: 'stt_proxy_refusals_total', help: 'Sessions and requests refused because every member tried refused them (at_capacity), or because STT_PROXY_MAX_HELD_REQUESTS requests already wait for a member (held_full), by route and reason', labelNames: ['route', 'reason'] as const, registers: [registry] }),
  };
}

/** A request refused rather than failed (every member at capacity, or too many held): counted by reason, and told when to come back. */
export function markRefusal(reply: FastifyReply, error: unknown, route: string, metrics: ProxyMetrics): void {
  const refused = refusalOf(error);
  if (!refused) return;
  metrics.refusals.inc({ route, reason: refused.reason });
  reply.header('retry-after', String(refused.retryAfterS));
}

/**
 * What the surfaces share, passed to each plugin as its options (never through decorators), so
 * a plugin's scope holds its own hooks (an API key check, say) and nothing leaks between them.
 */
export interface ProxyContext {
  config: ProxyConfig;
  backends: Backends;
  toggle: ToggleStore;
  logger: Logger;
  metrics: ProxyMetrics;
  /** The transcription backend for a new request or session; `avoid` is one that just failed. */
  choose: (avoid?: Backend) => Backend;
  /** Holds a request or session until a member is ready (STT_PROXY_HOLD_MS): the one wait every surface uses. */
  waitForMember: WaitForMember;
  /** One limit on the proxy's WebSocket sessions, whatever their protocol (STT_PROXY_MAX_CONNECTIONS). */
  gate: ConnectionGate;
  /** Named sessions and their listeners. */
  hub: SessionHub;
}
