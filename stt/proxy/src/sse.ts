import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * A server-sent event stream in OpenAI's framing: one `data: <json>` line per event, a blank line
 * after each. No `event:` names: the openai SDK and AIRI's @xsai/stream-transcription read the
 * type from the JSON.
 */
export class SseStream {
  private readonly raw: ServerResponse;

  constructor(reply: FastifyReply, headers: Record<string, string> = {}) {
    reply.hijack();
    this.raw = reply.raw;
    this.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // nginx would otherwise hold the events back until its buffer fills.
      'x-accel-buffering': 'no',
      ...headers,
    });
  }

  get closed(): boolean {
    return this.raw.writableEnded || this.raw.destroyed;
  }

  send(event: object): void {
    if (!this.closed) this.raw.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  end(): void {
    if (!this.closed) this.raw.end();
  }
}
