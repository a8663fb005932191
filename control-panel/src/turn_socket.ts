import type { ConfigAck, ErrorMessage, PartialMessage, TranscriptMessage } from '@vtuber-stt/core/turns';
import { wsUrl } from './api.js';

/** What the page hears from a microphone test, whichever side decides the turns. */
export interface MicEvents {
  speaking(on: boolean): void;
  /** Speculative text of utterance `seq` (server turns), shown until its final replaces it. */
  early(seq: number, message: TranscriptMessage): void;
  /** Live partial text of utterance `seq` (server turns): `stable` stays, the rest may change until its final. */
  partial(seq: number, message: PartialMessage): void;
  /**
   * The answer for utterance `seq`; `latencyMs`: what the streamer waited, from the end of their
   * speech (where the service or the detector heard it end, on the clock of the audio sent) to now.
   */
  final(seq: number, answer: TranscriptMessage | ErrorMessage, latencyMs: number): void;
  /** The settings in force on the transcription connection (its config ack). */
  applied(ack: ConfigAck): void;
  error(kind: 'denied' | 'missing' | 'insecure' | 'lost' | 'server', detail: string): void;
}

/** One flow of a microphone test: chunks in, events out. */
export interface TurnFlow {
  /** A chunk of microphone audio, captured at `at` (performance.now()). */
  push(chunk: Float32Array, at: number): void;
  /** Applies settings (a config message) to the transcription connection, now or as soon as it opens. */
  configure(message: Record<string, unknown>): void;
  /** Ends the utterance in progress, waits (a few seconds at most) for every answer, closes. */
  stop(): Promise<void>;
}

/**
 * A JSON-answering WebSocket on the page's origin. Errors that answer no utterance go to the
 * banner; a close nobody asked for is reported as a lost connection.
 */
export function openTurnSocket(path: string, name: string, events: MicEvents, onMessage: (m: Record<string, unknown>) => void): { ws: WebSocket; close(): void } {
  const ws = new WebSocket(wsUrl(path));
  ws.binaryType = 'arraybuffer';
  let closing = false;
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data as string) as Record<string, unknown>;
    if (m.type === 'error' && m.seq === undefined) events.error('server', String(m.error));
    else onMessage(m);
  };
  ws.onclose = (e) => {
    if (!closing) events.error('lost', `${name}: ${e.reason || `code ${e.code}`}`);
  };
  return {
    ws,
    close() {
      closing = true;
      ws.close();
    },
  };
}

/** Resolves when `done()` holds, checked on every call of the returned poke, or after `ms`. */
export function settled(done: () => boolean, ms: number): { wait: Promise<void>; poke(): void } {
  let resolve!: () => void;
  const wait = new Promise<void>((r) => (resolve = r));
  const timer = setTimeout(resolve, ms);
  const poke = () => {
    if (!done()) return;
    clearTimeout(timer);
    resolve();
  };
  poke();
  return { wait, poke };
}
