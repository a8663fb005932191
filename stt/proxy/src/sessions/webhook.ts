import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff, retryPolicy } from '@vtuber-stt/core';
import type { Logger } from 'pino';

export interface WebhookOptions {
  /** Where each committed turn is POSTed (STT_WEBHOOK_URL). */
  url: string;
  /** Signs each delivery (STT_WEBHOOK_SECRET); unsigned without one. */
  secret?: string;
  /** One attempt's limit (STT_WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** Deliveries waiting at most (STT_WEBHOOK_QUEUE): past it the oldest is dropped, logged and counted. */
  maxQueue: number;
  /** The first wait after a failed attempt (STT_WEBHOOK_RETRY_MS); each further one doubles (jittered), up to maxDelayMs (STT_WEBHOOK_RETRY_MAX_MS). */
  retryDelayMs: number;
  maxDelayMs: number;
  logger: Logger;
  onDropped?: () => void;
}

/** Answers that another attempt would get again: the delivery is dropped (logged, counted), not retried. */
const permanent = (status: number) => (status >= 300 && status < 500 && status !== 408 && status !== 429);

interface Delivery {
  /** The same for every attempt of one turn: a receiver that got it twice keeps one. */
  key: string;
  body: string;
}

/**
 * Committed turns of named sessions, POSTed one at a time in order to one receiver: a bounded
 * queue between the sessions and the network, so a slow or dead receiver never delays a
 * transcript or a listener. Each delivery is retried with backoff until the receiver answers
 * 2xx (at least once), with an `Idempotency-Key` and, with a secret, `X-STT-Signature:
 * t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` as Stripe signs its webhooks.
 */
export class WebhookSender {
  private readonly queue: Delivery[] = [];
  private running = false;
  private closed = false;
  private readonly abort = new AbortController();

  constructor(private readonly options: WebhookOptions) {}

  /** Queues one turn; the key is unique to it (session, the speaking connection, seq). */
  send(key: string, payload: object): void {
    if (this.closed) return;
    if (this.queue.length >= this.options.maxQueue) {
      const dropped = this.queue.shift()!;
      this.options.onDropped?.();
      this.options.logger.warn({ key: dropped.key, max: this.options.maxQueue }, 'webhook queue full (STT_WEBHOOK_QUEUE): the oldest delivery was dropped');
    }
    this.queue.push({ key, body: JSON.stringify(payload) });
    if (!this.running) void this.run();
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
  }

  private async run(): Promise<void> {
    this.running = true;
    const backoff = new Backoff(retryPolicy({ retryDelayMs: this.options.retryDelayMs, maxDelayMs: this.options.maxDelayMs }));
    while (this.queue.length > 0 && !this.closed) {
      const delivery = this.queue[0]!;
      const outcome = await this.attempt(delivery);
      if (this.closed) break;
      if (outcome.done) {
        if (outcome.failure) {
          this.options.onDropped?.();
          this.options.logger.warn({ key: delivery.key }, `webhook delivery dropped: ${outcome.failure}, which another attempt would get again`);
        }
        if (this.queue[0] === delivery) this.queue.shift();
        backoff.reset();
        continue;
      }
      const wait = backoff.next();
      this.options.logger.warn({ key: delivery.key, retry_in_ms: wait }, `webhook delivery failed: ${outcome.failure}`);
      await sleep(wait, undefined, { signal: this.abort.signal, ref: false }).catch(() => {});
    }
    this.running = false;
  }

  /** Delivered (done, no failure), refused for good (done, why), or failed for now (why). */
  private async attempt({ key, body }: Delivery): Promise<{ done: boolean; failure?: string }> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': key, 'user-agent': 'vtuber-stt-webhook' };
    if (this.options.secret) {
      const t = Math.floor(Date.now() / 1000);
      headers['x-stt-signature'] = `t=${t},v1=${signature(this.options.secret, t, body)}`;
    }
    // An own timer, not AbortSignal.timeout inside AbortSignal.any: nothing holds that timeout
    // signal strongly, so a collection could drop it and leave a hung receiver hanging us for good.
    const attempt = new AbortController();
    const onClose = () => attempt.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener('abort', onClose, { once: true });
    const timer = setTimeout(() => attempt.abort(new DOMException('attempt timed out', 'TimeoutError')), this.options.timeoutMs);
    try {
      const response = await fetch(this.options.url, { method: 'POST', headers, body, redirect: 'manual', signal: attempt.signal });
      // The answer's body is not wanted: drained so the connection is free for the next one.
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) return { done: true };
      return { done: permanent(response.status), failure: `answered ${response.status}` };
    } catch (error) {
      return { done: false, failure: (error as Error).name === 'TimeoutError' ? `no answer in ${this.options.timeoutMs} ms (STT_WEBHOOK_TIMEOUT_MS)` : (error as Error).message };
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onClose);
    }
  }
}

/** What a receiver recomputes to check a delivery: hex HMAC-SHA256 of `${t}.${body}` with the shared secret. */
export function signature(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/** What the receiver is sent for one committed turn. */
export function committedTurn(session: string, final: Record<string, unknown>): object {
  const { type: _type, final: _final, ...fields } = final;
  return { type: 'turn.committed', session, ...fields, committed_at: new Date().toISOString() };
}

/** A speaking connection's part of the idempotency keys: seqs restart with each connection. */
export const connectionId = () => randomUUID().slice(0, 8);
