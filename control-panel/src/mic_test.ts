import { DetectTurns } from './detect_turns.js';
import { MicCapture, MicError } from './mic_capture.js';
import { ServerTurns } from './server_turns.js';
import type { MicEvents, TurnFlow } from './turn_socket.js';

export type { MicEvents } from './turn_socket.js';

/** Who decides where an utterance ends: the transcription service (the default) or the page through /ws/detect. */
export type MicMode = 'server' | 'detect';

/**
 * The panel's microphone test: the same protocol as any client. By default the service hears
 * the turns (one socket, speech_start / early text / speech_end / final); `detect` keeps the
 * client-side flow of /ws/detect plus `<flush>`.
 */
export class MicTest {
  private capture?: MicCapture;
  private flow?: TurnFlow;

  constructor(private readonly events: MicEvents) {}

  async start(mode: MicMode = 'server'): Promise<void> {
    const capture = new MicCapture();
    let flow: TurnFlow | undefined;
    try {
      // Chunks arrive only after start resolves with the rate the flow needs.
      const rate = await capture.start((chunk) => flow?.push(chunk));
      flow = mode === 'server' ? new ServerTurns(rate, this.events) : new DetectTurns(rate, this.events);
    } catch (error) {
      if (error instanceof MicError) this.events.error(error.kind, error.message);
      throw error;
    }
    this.capture = capture;
    this.flow = flow;
  }

  async stop(): Promise<void> {
    const { capture, flow } = this;
    this.capture = undefined;
    this.flow = undefined;
    await capture?.stop();
    this.events.speaking(false);
    await flow?.stop();
  }
}
