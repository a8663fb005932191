import type { Logger } from 'pino';
import { ResilientTranscriber, SAMPLE_RATE } from '@vtuber-stt/core';
import { PreRollBuffer } from './audio_buffer.js';
import { DetectLink, type DetectEvent } from './detect_link.js';

export interface StreamerOptions {
  detectUrl: string;
  transcribeUrl: string;
  preRollMs: number;
  /** Client-side end of utterance after this much silence; 0 leaves it to the detector's speech_end. */
  hangoverMs: number;
  /** An utterance this long is flushed even if the speaker has not paused. */
  maxUtteranceMs: number;
  language?: string;
  prompt?: string;
  /** Unanswered audio held across reconnections. */
  maxBufferBytes: number;
  log: Logger;
  onUtterance: (u: Utterance) => void;
}

/** One line of output: what was said, when (ms from the start of input), and how long the text took. */
export interface Utterance {
  seq: number;
  text: string;
  language: string;
  start_ms: number;
  end_ms: number;
  latency_ms: number;
}

const toMs = (samples: number) => Math.round((samples / SAMPLE_RATE) * 1000);
/** Chunks the detector may be behind (1 s) before input waits for it. */
const MAX_DETECT_LAG = 32;

/**
 * The utterance flow: every chunk goes to /ws/detect; from a speech start (plus pre-roll) to its
 * end the same audio goes to /ws/transcribe, then `<flush>`. Transcription rides on a
 * ResilientTranscriber, so an utterance whose connection dropped is sent again after reconnecting.
 */
export class UtteranceStreamer {
  private clock = 0;
  private readonly ring: PreRollBuffer;
  private readonly detect: DetectLink;
  private readonly transcriber: ResilientTranscriber;
  private utteranceStart = -1;
  private utteranceSamples = 0;
  /** Client-clock position up to which the utterance's audio went to transcription. */
  private sentUntil = 0;
  private silentSamples = 0;
  private readonly meta = new Map<number, { start: number; end: number }>();
  private warnedFull = false;

  constructor(private readonly options: StreamerOptions) {
    // Enough to reach back past the detector's lag, its confirmation delay and the pre-roll.
    this.ring = new PreRollBuffer(Math.round(((options.preRollMs + 3000) / 1000) * SAMPLE_RATE));
    const { log } = options;
    this.transcriber = new ResilientTranscriber({
      next: () => ({ url: options.transcribeUrl }),
      maxReplayBytes: options.maxBufferBytes,
      // Through the proxy, a restarting backend answers engine_unavailable: wait and send again.
      retryCodes: ['engine_unavailable', 'overloaded'],
      retryDelayMs: 1000,
      onReply: (message, _endpoint, latencyMs) => this.onReply(message, latencyMs),
      onMessage: (message) => {
        if (message.type === 'error') log.warn(`transcription service: ${String(message.error)}`);
      },
      onConnectionChange: ({ type, detail, pending }) => {
        if (type === 'connected') log.info(`transcription connected${pending ? `; re-sending ${pending} utterance(s)` : ''}`);
        else if (type === 'lost') log.warn(`transcription connection lost (${detail}); reconnecting, ${pending} utterance(s) kept`);
        else log.debug(`transcription connect failed: ${detail}`);
      },
    });
    const config: Record<string, unknown> = { type: 'config' };
    if (options.language) config.language = options.language;
    if (options.prompt) config.prompt = options.prompt;
    if (Object.keys(config).length > 1) this.transcriber.control(JSON.stringify(config));
    this.detect = new DetectLink(
      options.detectUrl,
      (e) => this.onDetect(e),
      (state, detail) => (state === 'connected' ? log.info('detection connected') : log.warn(`detection connection lost (${detail}); reconnecting`)),
    );
  }

  /** Input should start once detection listens: audio before that would go unheard. */
  ready(): Promise<void> {
    return this.detect.opened;
  }

  get inUtterance(): boolean {
    return this.utteranceStart >= 0;
  }

  /**
   * Takes the next chunk. Audio reaches transcription as the detector answers for it, so an
   * utterance is cut where the detector says; with the detector away, it goes live. Resolves when
   * the detector is not too far behind (a file played `--fast` waits for it).
   */
  async push(chunk: Buffer): Promise<void> {
    const start = this.clock;
    this.clock += chunk.length / 2;
    this.ring.push(start, chunk);
    if (this.detect.connected) {
      this.detect.send(chunk, start);
      await this.detect.drained(MAX_DETECT_LAG);
    } else if (this.inUtterance) {
      this.sendUpTo(this.clock);
    }
  }

  /** Input ended or Ctrl-C: the utterance in progress is flushed, and every text awaited. */
  async finish(): Promise<void> {
    await this.detect.drained(0, 5000);
    if (this.inUtterance) {
      this.sendUpTo(this.clock);
      this.end(this.clock);
    }
    await this.transcriber.idle();
    this.detect.close();
    this.transcriber.close();
  }

  private sendUpTo(to: number): void {
    for (const a of this.ring.range(this.sentUntil, to)) {
      this.send(a);
      this.utteranceSamples += a.length / 2;
    }
    this.sentUntil = Math.max(this.sentUntil, to);
    if (toMs(this.utteranceSamples) >= this.options.maxUtteranceMs) {
      this.options.log.info(`utterance reached ${this.options.maxUtteranceMs} ms: flushing and continuing`);
      this.end(to);
      this.begin(to, to);
    }
  }

  private send(chunk: Buffer): void {
    const refused = this.transcriber.sendAudio(chunk);
    if (refused && !this.warnedFull) {
      this.warnedFull = true;
      this.options.log.warn(`audio not kept: ${refused} (--max-buffer-s)`);
    } else if (!refused) this.warnedFull = false;
  }

  private begin(at: number, from: number): void {
    this.utteranceStart = at;
    this.utteranceSamples = 0;
    this.silentSamples = 0;
    this.sentUntil = from;
  }

  private end(at: number): void {
    const seq = this.transcriber.flush();
    this.meta.set(seq, { start: this.utteranceStart, end: at });
    this.utteranceStart = -1;
  }

  private onDetect({ reply, base, chunkStart, chunkSamples }: DetectEvent): void {
    const abs = (offsetMs: number) => base + Math.round((offsetMs / 1000) * SAMPLE_RATE);
    const chunkEnd = chunkStart + chunkSamples;
    if (reply.speech_start !== undefined && !this.inUtterance) {
      const start = abs(reply.speech_start);
      this.begin(start, Math.max(0, start - Math.round((this.options.preRollMs / 1000) * SAMPLE_RATE)));
    }
    if (this.inUtterance) this.sendUpTo(chunkEnd);
    if (reply.speech_withdrawn !== undefined && this.inUtterance && abs(reply.speech_withdrawn) === this.utteranceStart) {
      this.options.log.debug('detector withdrew the utterance (no words in it)');
      this.transcriber.control(JSON.stringify({ type: 'reset' }));
      this.utteranceStart = -1;
      return;
    }
    if (reply.speech_end !== undefined && this.inUtterance) {
      this.end(abs(reply.speech_end));
      return;
    }
    if (!this.inUtterance || this.options.hangoverMs <= 0) return;
    this.silentSamples = reply.speech_detected ? 0 : this.silentSamples + chunkSamples;
    if (toMs(this.silentSamples) >= this.options.hangoverMs) this.end(chunkStart + chunkSamples - this.silentSamples);
  }

  private onReply(message: Record<string, unknown>, latencyMs: number): void {
    const seq = message.seq as number;
    const meta = this.meta.get(seq);
    this.meta.delete(seq);
    if (message.type !== 'transcript') {
      this.options.log.warn(`utterance ${seq} not transcribed: ${String(message.error)}`);
      return;
    }
    const text = String(message.text ?? '');
    if (!text) {
      this.options.log.debug(`utterance ${seq}: no words (${String(message.dropped ?? 'empty')})`);
      return;
    }
    this.options.onUtterance({
      seq,
      text,
      language: String(message.language),
      start_ms: meta ? toMs(meta.start) : 0,
      end_ms: meta ? toMs(meta.end) : 0,
      latency_ms: Math.round(latencyMs),
    });
  }
}
