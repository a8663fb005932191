import WebSocket from 'ws';
import { decodePcm, encodeS16le, resample } from '@vtuber-stt/core';

/** A server event of an OpenAI Realtime session, as OpenAI's event reference documents them. */
export interface RealtimeEvent {
  type: string;
  event_id: string;
  item_id?: string;
  previous_item_id?: string | null;
  audio_start_ms?: number;
  audio_end_ms?: number;
  delta?: string;
  transcript?: string;
  content_index?: number;
  session?: Record<string, any>;
  error?: { type: string; code: string | null; message: string; param: string | null; event_id: string | null };
}

/**
 * A client written from OpenAI's documented Realtime event shapes (the `openai` SDK's
 * realtime types): JSON client events over a plain WebSocket, every server event queued.
 */
export class RealtimeClient {
  readonly events: RealtimeEvent[] = [];
  private readonly waiters: (() => void)[] = [];
  private read = 0;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.events.push(JSON.parse(data.toString()) as RealtimeEvent);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** `options`: the ws client's own (a `ca` to trust for wss://, say). */
  static connect(url: string, options?: WebSocket.ClientOptions): Promise<RealtimeClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options);
      const client = new RealtimeClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(event: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(event));
  }

  /** 16-bit PCM appended in base64 events of `chunkBytes`. */
  append(pcm: Buffer, chunkBytes = 9600): void {
    for (let i = 0; i < pcm.length; i += chunkBytes) this.send({ type: 'input_audio_buffer.append', audio: pcm.subarray(i, i + chunkBytes).toString('base64') });
  }

  /** The next event not read yet, of `type` if given (skipping others), waiting up to `ms`. */
  async next(type?: string, ms = 60_000): Promise<RealtimeEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      while (this.read < this.events.length) {
        const e = this.events[this.read++]!;
        if (!type || e.type === type) return e;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type ?? 'event'} within ${ms} ms; had: ${this.events.map((e) => e.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until `done` holds for all events received so far. */
  async until(done: (all: RealtimeEvent[]) => boolean, ms = 60_000): Promise<RealtimeEvent[]> {
    const deadline = Date.now() + ms;
    while (!done(this.events)) {
      if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms; had: ${this.events.map((e) => e.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.events;
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }
}

/** 16 kHz s16le audio at OpenAI's 24 kHz. */
export function to24k(pcm16k: Buffer): Buffer {
  return encodeS16le(resample(decodePcm(pcm16k, { sampleRate: 16000, encoding: 's16le', channels: 1 }), 16000, 24000));
}

/**
 * One manual-commit round trip on a session just opened: `session.created`, then turn detection
 * off, `pcm` (16 kHz s16le) appended at 24 kHz and committed; resolves with the `completed` event.
 */
export async function commitOnce(c: RealtimeClient, pcm: Buffer): Promise<RealtimeEvent> {
  await c.next('session.created');
  c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: null } } } });
  await c.next('session.updated');
  c.append(to24k(pcm));
  c.send({ type: 'input_audio_buffer.commit' });
  return c.next('conversation.item.input_audio_transcription.completed');
}
