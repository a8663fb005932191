import { WINDOW } from './silero.js';

export const WINDOW_MS = (WINDOW / 16000) * 1000; // 32 ms

/** Hysteresis for turning per-window probabilities into utterances. Clients may tune it. */
export interface TrackerSettings {
  /** Probability at which speech may begin. */
  threshold: number;
  /** Probability below which speech counts as paused (lower than threshold: hysteresis). */
  negThreshold: number;
  /** A candidate must last this long before speech_start is announced (filters clicks). */
  minSpeechMs: number;
  /** Silence that must follow speech before speech_end is announced. */
  hangoverMs: number;
  /**
   * Inside an utterance, how long a chunk still counts as speech after the last speech window.
   * Shorter than the hang-over: `speech_detected` is per chunk, the utterance spans short pauses.
   */
  frameHoldMs: number;
}

/**
 * Tuned on the labelled fixtures by `npm run bench:tune` (frame F1 0.979 / 0.985 / 0.865 on the
 * speechbrain VAD files and the labelled mfa long file, 0.5 % false-positive chunks on the
 * non-speech clips, every spoken clip's start detected within 320 ms of its onset). The
 * hang-over is a conversational pause, not tuned for frame F1.
 */
export const DEFAULT_TRACKER: TrackerSettings = { threshold: 0.4, negThreshold: 0.3, minSpeechMs: 32, hangoverMs: 480, frameHoldMs: 32 };

/** The release threshold that goes with a start threshold, keeping the tuned hysteresis gap. */
export function releaseFor(threshold: number): number {
  return Math.max(0.01, threshold - (DEFAULT_TRACKER.threshold - DEFAULT_TRACKER.negThreshold));
}

export type TrackerEvent = { type: 'speech_start' | 'speech_end'; offset_ms: number };

/**
 * Per-connection utterance state. Offsets are ms from the connection's start: speech_start
 * names the first window of the speech (not the moment it was confirmed), speech_end the end
 * of the last speech window (not the end of the hang-over).
 */
export class UtteranceTracker {
  private windows = 0;
  private speaking = false;
  private candidateStart = -1;
  private lastSpeech = -1;

  constructor(public settings: TrackerSettings = DEFAULT_TRACKER) {}

  /** Inside an utterance (between speech_start and speech_end). */
  get inSpeech(): boolean {
    return this.speaking;
  }

  /** Inside an utterance: the silence since its last speech window, in ms (0 while speaking). */
  get silenceMs(): number {
    return this.speaking ? (this.windows - 1 - this.lastSpeech) * WINDOW_MS : 0;
  }

  /** Windows seen so far. */
  get position(): number {
    return this.windows;
  }

  /** End of the last speech window, in ms from the start (meaningful inside an utterance). */
  get lastSpeechEndMs(): number {
    return Math.round((this.lastSpeech + 1) * WINDOW_MS);
  }

  /** The utterance was ended from outside (a flush): the next speech opens a new one. */
  interrupt(): void {
    this.speaking = false;
    this.candidateStart = -1;
  }

  /** Whether the last window counts as speech, frame by frame. */
  get speechNow(): boolean {
    return this.speaking && (this.windows - 1 - this.lastSpeech) * WINDOW_MS < this.settings.frameHoldMs;
  }

  /** Feeds one window's probability; returns what happened at it. */
  push(probability: number): TrackerEvent | undefined {
    const i = this.windows++;
    const { threshold, negThreshold, minSpeechMs, hangoverMs } = this.settings;
    if (!this.speaking) {
      if (this.candidateStart < 0) {
        if (probability >= threshold) this.candidateStart = i;
      } else if (probability < negThreshold) {
        this.candidateStart = -1;
      }
      if (this.candidateStart >= 0 && (i - this.candidateStart + 1) * WINDOW_MS >= minSpeechMs) {
        this.speaking = true;
        this.lastSpeech = i;
        const start = this.candidateStart;
        this.candidateStart = -1;
        return { type: 'speech_start', offset_ms: Math.round(start * WINDOW_MS) };
      }
      return undefined;
    }
    if (probability >= negThreshold) {
      this.lastSpeech = i;
      return undefined;
    }
    if ((i - this.lastSpeech) * WINDOW_MS >= hangoverMs) {
      this.speaking = false;
      return { type: 'speech_end', offset_ms: Math.round((this.lastSpeech + 1) * WINDOW_MS) };
    }
    return undefined;
  }
}
