import { ServiceError, type ErrorCode, type HandshakeRefused } from '@vtuber-stt/core';
import type { Backend } from './backend.js';

/** A request's failure on its way to or from a member, with the error code the client is answered with. */
export class UpstreamError extends ServiceError {
  constructor(message: string, code: ErrorCode, retryAfterS?: number) {
    super(code, message, retryAfterS);
  }

  /** Set by a refusal that a restart would not change (MemberRefused). */
  protected readonly permanent: boolean = false;

  /** A member that cannot be reached now, and may be back: the request is held (STT_PROXY_HOLD_MS) or sent elsewhere. */
  get memberGone(): boolean {
    return this.code === 'unreachable' && !this.permanent;
  }
}

/**
 * Refused at once because STT_PROXY_MAX_HELD_REQUESTS requests already wait for a member: 503
 * with a short Retry-After (a restart takes seconds), counted as a refusal (`held_full`).
 */
export class HoldFull extends UpstreamError {
  constructor(held: number) {
    super(`${held} requests already wait for a transcription member to come back (STT_PROXY_MAX_HELD_REQUESTS)`, 'overloaded', 1);
  }
}

/** Why a request was refused rather than failed (stt_proxy_refusals_total's reason, with Retry-After), if it was. */
export function refusalOf(error: unknown): { reason: 'at_capacity' | 'held_full'; retryAfterS: number } | undefined {
  if (!(error instanceof ServiceError)) return undefined;
  const reason = error instanceof HoldFull ? 'held_full' : error.code === 'at_capacity' ? 'at_capacity' : undefined;
  return reason && { reason, retryAfterS: error.retryAfterS ?? 1 };
}

/**
 * A member that refuses the proxy's handshake for good (a wrong key, a route it does not serve):
 * another member is tried, but nobody waits for this one, since a restart would not change it.
 */
export class MemberRefused extends UpstreamError {
  protected override readonly permanent = true;

  constructor(backend: Backend, error: HandshakeRefused) {
    const hint = error.status === 401 || error.status === 403 ? '; check STT_BACKEND_API_KEY' : '';
    super(`${backend.name} backend refused the proxy's connection (HTTP ${error.status}: ${error.message})${hint}`, 'unreachable');
  }
}
