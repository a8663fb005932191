import type { Logger } from 'pino';
import type { SileroModel } from '../vad/silero.js';
import type { DetectSettings } from './detect_session.js';
import type { Limits } from './limits.js';
import type { Metrics } from '../metrics.js';
import type { Transcriber } from '../decode/transcriber.js';
import type { TurnSettings } from '../turns/settings.js';
import type { AssistantSettings } from '../turns/assistant_voice.js';

export type Role = 'transcribe' | 'detect';

export interface ServiceState {
  /** Whisper for /ws/transcribe, once loaded and warmed up. */
  transcriber?: Transcriber;
  /** The detector's Whisper (hybrid and whisper modes), on the same scheduler as the transcriber. */
  verifier?: Transcriber;
  /** Server-side turn defaults for new /ws/transcribe connections. */
  turns: TurnSettings;
  /** The VTuber's-own-voice defaults for new /ws/transcribe connections. */
  assistant: AssistantSettings;
  vad?: SileroModel;
  /** Set for the detect role once it can serve. */
  detect?: { settings: DetectSettings };
  status: 'loading' | 'ready' | 'failed';
  detail: Record<string, unknown>;
}

/** What every route of a service is given. */
export interface RouteContext {
  state: ServiceState;
  limits: Limits;
  metrics: Metrics;
  logger: Logger;
}
