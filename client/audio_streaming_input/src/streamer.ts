import { DetectTurns } from './detect_turns.js';
import { ServerTurns } from './server_turns.js';
import type { StreamerOptions, TurnFlow } from './turn_flow.js';

export type { PartialText, StreamerOptions, TurnFlow, Utterance } from './turn_flow.js';

/**
 * Audio in (16 kHz s16le mono), utterances out. By default the transcription service hears the
 * turns itself (`?turns=server`): one socket, all audio, speech_start / speech_end / finals back.
 * `turns: 'detect'` keeps the client-side flow: /ws/detect decides, this client sends each
 * utterance with `<flush>`.
 */
export class UtteranceStreamer {
  private readonly flow: TurnFlow;

  constructor(options: StreamerOptions) {
    this.flow = (options.turns ?? 'server') === 'server' ? new ServerTurns(options) : new DetectTurns(options);
  }

  /** Resolves once audio pushed will be heard (the first connection is open). */
  ready(): Promise<void> {
    return this.flow.ready();
  }

  /** Takes the next chunk; resolves when more may be pushed (a file played --fast waits here). */
  push(chunk: Buffer): Promise<void> {
    return this.flow.push(chunk);
  }

  /** Input ended or Ctrl-C: the utterance in progress ends, and every text is awaited. */
  finish(): Promise<void> {
    return this.flow.finish();
  }

  /** Mutes or unmutes the session: the service discards the audio meanwhile (and ends the turn in progress). */
  mute(muted: boolean): void {
    this.flow.mute(muted);
  }
}
