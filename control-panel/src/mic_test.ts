import { DetectTurns } from './detect_turns.js';
import { MicCapture, MicError } from './mic_capture.js';
import { configMessage, type MicSettings } from './mic_settings.js';
import { ServerTurns } from './server_turns.js';
import type { MicEvents, TurnFlow } from './turn_socket.js';

export type { MicEvents } from './turn_socket.js';

/** Who decides where an utterance ends: the transcription service (the default) or the page through /ws/detect. */
export type MicMode = 'server' | 'detect';

/**
 * The panel's microphone test: the same protocol as any client. By default the service hears
 * the turns (one socket, speech_start / early text / speech_end / final); `detect` keeps the
 * client-side flow of /ws/detect plus `<flush>`. Every chunk also goes to `onLevel` (the meter).
 */
export class MicTest {
  private capture?: MicCapture;
  private flow?: TurnFlow;
  private mode: MicMode = 'server';

  constructor(
    private readonly events: MicEvents,
    private readonly onLevel: (chunk: Float32Array) => void,
  ) {}

  async start(mode: MicMode, settings: MicSettings): Promise<void> {
    const capture = new MicCapture();
    let flow: TurnFlow | undefined;
    try {
      // Chunks arrive only after start resolves with the rate the flow needs.
      const rate = await capture.start((chunk) => {
        this.onLevel(chunk);
        flow?.push(chunk, performance.now());
      }, settings.deviceId);
      // Client-side turns cut utterances themselves: a session name is for server turns, where the service's events are the session's.
      flow = mode === 'server' ? new ServerTurns(rate, this.events, settings.session) : new DetectTurns(rate, this.events);
      flow.configure(configMessage(settings, mode === 'server'));
    } catch (error) {
      if (error instanceof MicError) this.events.error(error.kind, error.message);
      throw error;
    }
    this.capture = capture;
    this.flow = flow;
    this.mode = mode;
  }

  /** Settings changed while running: language, prompt and turn timing apply at once. */
  configure(settings: MicSettings): void {
    this.flow?.configure(configMessage(settings, this.mode === 'server'));
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
