// What the turn-taking modes share with the streamer that picks one: a leaf, so neither imports the other.
import type { Logger } from 'pino';
import type { ConnectionEvent } from '@vtuber-stt/core/client';

export interface StreamerOptions {
  detectUrl: string;
  transcribeUrl: string;
  /** Who hears the end of a turn: the transcription service (one socket, the default) or this client through /ws/detect. */
  turns?: 'server' | 'detect';
  /** Server turns: also hand speculative text (`final: false`) to onUtterance as soon as it arrives. */
  early?: boolean;
  /** Server turns: ask for live partial text while each utterance runs (handed to onPartial). */
  partials?: boolean;
  /** Server turns: ask for `turn` events (start, eager_end, resumed, end), handed to onServerMessage. */
  turnEvents?: boolean;
  preRollMs: number;
  /** End of utterance after this much silence; 0 leaves it to the detector (or the service's own end of turn). */
  hangoverMs: number;
  /** An utterance this long is ended even if the speaker has not paused. */
  maxUtteranceMs: number;
  language?: string;
  prompt?: string;
  /** Unanswered audio held across reconnections. */
  maxBufferBytes: number;
  log: Logger;
  onUtterance: (u: Utterance) => void;
  /** Live partial text of an utterance still running (with `partials`); its final follows through onUtterance. */
  onPartial?: (p: PartialText) => void;
  /** Every message from the transcription side (speech_start, speech_end, transcript final or not), seq already in the client's numbering, with performance.now() at receipt. */
  onServerMessage?: (m: Record<string, unknown>, receivedAt: number) => void;
  /**
   * The transcription connection's changes (connected, lost, refused, ...), as the resilient link
   * reports them: an app can say "the service is at capacity" (lost, code 1013, the reason with its
   * retry hint) or give up instead of letting the client retry with the audio held.
   */
  onConnectionChange?: (event: ConnectionEvent) => void;
}

/** One line of output: what was said, when (ms from the start of input), and how long the text took. */
export interface Utterance {
  seq: number;
  text: string;
  language: string;
  start_ms: number;
  end_ms: number;
  /** Server turns: speech_end's arrival to the final's; detect mode: `<flush>` to the reply. */
  latency_ms: number;
  /** false: speculative text sent early; the final for this seq follows and replaces it. */
  final: boolean;
  speculative?: 'hit' | 'miss' | 'none';
  inference_ms?: number;
  queue_ms?: number;
}

/** Interim text of utterance `seq`: `stable` (agreed on, only grows) then the words that may still change. */
export interface PartialText {
  seq: number;
  text: string;
  stable: string;
  language: string;
}

/** How one turn-taking mode moves audio: input in, utterances out through the options' callbacks. */
export interface TurnFlow {
  ready(): Promise<void>;
  push(chunk: Buffer): Promise<void>;
  finish(): Promise<void>;
  /** Push-to-talk: the service discards the audio while muted (`{"type":"mute"}` / `{"type":"unmute"}`). */
  mute(muted: boolean): void;
}
