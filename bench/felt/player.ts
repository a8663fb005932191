/**
 * Plays the conversation in real time through the microphone client's own code
 * (UtteranceStreamer), as a microphone would deliver it, and records when every message arrived.
 */
import pino from 'pino';
import { encodeS16le, SAMPLE_RATE } from '@vtuber-stt/core';
import type { ConnectionEvent } from '@vtuber-stt/core/client';
import type { Utterance } from '../../client/audio_streaming_input/src/streamer.js';
import type { Conversation } from './conversation.js';

export const CHUNK_MS = 32;
const CHUNK_SAMPLES = (SAMPLE_RATE * CHUNK_MS) / 1000;


export interface Receipt {
  /** performance.now() when it reached this process. */
  at: number;
  source: 'utterance' | 'server';
  message: Record<string, unknown>;
}

export interface Playback {
  /** performance.now() of conversation time 0: true bounds map to wall time as playStart + ms. */
  playStart: number;
  receipts: Receipt[];
  /** How far behind schedule chunks were pushed (a slow push would distort every latency). */
  late_p99_ms: number;
  late_max_ms: number;
  chunks: number;
  /** The stack refused the session at capacity before serving it (`giveUpAtCapacity`): playing stopped there. */
  refused?: { detail: string; at: number };
  /** The last answers had not come `finishTimeoutMs` after the input ended: the session was closed without them. */
  unfinished?: boolean;
}

export interface PlayOptions {
  port: number;
  turns: 'server' | 'detect';
  /** Server turns: ask for live partials (their messages are recorded, never counted as held text). */
  partials?: boolean;
  /** Speak on this named session (`?session=`), so that listeners can hear it (bench:listeners). */
  session?: string;
  /**
   * A session refused at capacity (closed 1013 "at capacity: ... retry in N s") before its first
   * utterance stops playing: a streamer told "not now" at connect goes elsewhere, instead of the
   * client's own behaviour (holding the audio and retrying with backoff), which would bring the
   * held audio back as a burst later (bench:capacity).
   */
  giveUpAtCapacity?: boolean;
  /** How long the last answers may take once the input ended (ms) before the session is closed without them; unbounded by default. */
  finishTimeoutMs?: number;
}

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - performance.now())));

/**
 * Ends a session at once, without waiting for its answers. The streamer offers only finish()
 * (which waits for every answer, and a session refused at capacity would retry forever), so this
 * reaches its turn flow's ResilientTranscriber, which has close().
 */
function abandon(streamer: object): void {
  const link = (streamer as { flow?: { link?: { transcriber?: { close(): void } } } }).flow?.link;
  if (!link?.transcriber) throw new Error('bench: the streamer has no transcription link to close');
  link.transcriber.close();
}

export async function play(conv: Conversation, { port, turns, partials = false, session, giveUpAtCapacity = false, finishTimeoutMs }: PlayOptions): Promise<Playback> {
  const receipts: Receipt[] = [];
  let refused: Playback['refused'];
  let started = false;
  const options = {
    detectUrl: `ws://127.0.0.1:${port}/ws/detect`,
    transcribeUrl: `ws://127.0.0.1:${port}/ws/transcribe${session ? `?session=${encodeURIComponent(session)}` : ''}`,
    turns,
    // Speculative text sent at once: felt latency is about the first text the client can act on.
    early: true,
    partials,
    // Server turns: the turn events a brain acts on (eager_end, resumed, end), timed per turn.
    turnEvents: turns === 'server',
    preRollMs: 300,
    hangoverMs: 0,
    maxUtteranceMs: 30_000,
    maxBufferBytes: 300 * SAMPLE_RATE * 2,
    log: pino({ level: 'warn' }, pino.destination(2)),
    onUtterance: (u: Utterance) => receipts.push({ at: performance.now(), source: 'utterance', message: { ...u } }),
    onServerMessage: (m: Record<string, unknown>, receivedAt: number) => {
      // Detection answers every chunk; only the turn and transcript messages matter here.
      if (m.type !== 'detect') receipts.push({ at: receivedAt, source: 'server', message: m });
      if (m.type === 'speech_start') started = true;
    },
    onConnectionChange: (event: ConnectionEvent) => {
      if (giveUpAtCapacity && !started && !refused && event.type === 'lost' && event.code === 1013 && /at capacity/.test(event.detail ?? '')) {
        refused = { detail: event.detail ?? '', at: performance.now() };
      }
    },
  };
  // Loaded here, not at the top: `--plan` (conversation and floor) must work while the client is mid-change.
  const { UtteranceStreamer } = await import('../../client/audio_streaming_input/src/streamer.js');
  const streamer = new UtteranceStreamer(options);
  await streamer.ready();

  const wire = encodeS16le(conv.samples);
  const chunks = Math.ceil(conv.samples.length / CHUNK_SAMPLES);
  const late: number[] = [];
  // Small lead so the first chunk is not already late; chunk n holds audio [n, n+1) x 32 ms and,
  // as from a real microphone, is delivered when its last sample has been "spoken".
  const playStart = performance.now() + 50;
  let pushed = 0;
  for (let n = 0; n < chunks && !refused; n++, pushed++) {
    const due = playStart + (n + 1) * CHUNK_MS;
    await sleepUntil(due);
    late.push(performance.now() - due);
    await streamer.push(wire.subarray(n * CHUNK_SAMPLES * 2, Math.min(wire.length, (n + 1) * CHUNK_SAMPLES * 2)));
  }
  let unfinished = false;
  if (refused) abandon(streamer);
  else if (finishTimeoutMs === undefined) await streamer.finish();
  else {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), finishTimeoutMs)));
    unfinished = (await Promise.race([streamer.finish(), timeout])) === 'timeout';
    clearTimeout(timer);
    if (unfinished) abandon(streamer);
  }
  late.sort((a, b) => a - b);
  return {
    playStart,
    receipts,
    late_p99_ms: late.length ? Math.round(late[Math.floor(late.length * 0.99)]! * 10) / 10 : 0,
    late_max_ms: late.length ? Math.round(late.at(-1)! * 10) / 10 : 0,
    chunks: pushed,
    ...(refused ? { refused } : {}),
    ...(unfinished ? { unfinished } : {}),
  };
}
