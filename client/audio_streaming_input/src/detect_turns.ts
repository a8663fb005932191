import { isFinalAnswer, msOfSamples as toMs, SampleLog, samplesOfMs as toSamples, Segmenter, type SegmentAction } from '@vtuber-stt/core/client';
import { DetectLink, type DetectEvent } from './detect_link.js';
import type { StreamerOptions, TurnFlow } from './turn_flow.js';
import { openTranscription, type Transcription } from './transcription.js';

/** Chunks the detector may be behind (1 s) before input waits for it. */
const MAX_DETECT_LAG = 32;
/**
 * Audio kept for a detector that went away (a restart) to hear once it is back, as the proxy holds
 * a transcription request through a restart (STT_PROXY_HOLD_MS): speech that begins while
 * it is away is cut by its verdicts, not lost. Past this the open utterance takes the audio as it
 * comes, unjudged.
 */
const CATCH_UP_MS = 15_000;

/**
 * Client-side turns: every chunk goes to /ws/detect, whose verdicts drive a Segmenter; the audio
 * it assigns to an utterance goes to /ws/transcribe (plain `<flush>` protocol), and its end sends
 * `<flush>`. Positions are samples of input, the client's one clock.
 */
export class DetectTurns implements TurnFlow {
  private clock = 0;
  /** Input the detector has answered for, on any of its connections. */
  private answered = 0;
  /** Input sent on the detector's current connection. */
  private sent = 0;
  /** The last seconds of input (s16le): an utterance's audio from before its reported start, and what the detector missed. */
  private readonly ring: SampleLog<Buffer>;
  private readonly detect: DetectLink;
  private readonly link: Transcription;
  private readonly segmenter: Segmenter;
  /** Where each flushed utterance's speech lies, by seq, for its line. */
  private readonly spans = new Map<number, { start: number; end: number }>();

  constructor(private readonly options: StreamerOptions) {
    const { log } = options;
    // Enough to reach back past the detector's lag, its confirmation delay and the pre-roll, and
    // for a detector that comes back to hear what it missed.
    this.ring = new SampleLog<Buffer>({ unitsPerSample: 2, keepSamples: toSamples(options.preRollMs + 3000 + CATCH_UP_MS) });
    this.segmenter = new Segmenter({ preRoll: toSamples(options.preRollMs), maxLength: toSamples(options.maxUtteranceMs), hangover: toSamples(options.hangoverMs) });
    this.link = openTranscription(options, {
      // The service speculates at the pause the detector is still waiting out: its text arrives
      // before our <flush> does (printed only with --early; the flush's answer is the final).
      url: withEarly(options.transcribeUrl),
      onReply: (message, _endpoint, latencyMs) => this.onReply(message, latencyMs, performance.now()),
      onMessage: (message) => {
        options.onServerMessage?.(message, performance.now());
        if (message.type === 'error') log.warn(`transcription service: ${String(message.error)}`);
        else if (message.type === 'transcript' && message.final === false) this.onEarly(message);
      },
    });
    const config: Record<string, unknown> = { type: 'config' };
    if (options.language) config.language = options.language;
    if (options.prompt) config.prompt = options.prompt;
    if (Object.keys(config).length > 1) this.link.transcriber.control(JSON.stringify(config));
    this.detect = new DetectLink(
      options.detectUrl,
      (e) => this.onDetect(e),
      (state, detail) => {
        if (state === 'lost') return log.warn(`detection connection lost (${detail}); reconnecting`);
        if (state === 'config_refused') return log.warn(`detection refused its settings: ${detail}`);
        // A new connection hears again what the last one was sent and did not answer, and an open
        // utterance from its start: a detector that heard only its tail (or the silence after it)
        // would not end it, or would withdraw it for the words it did not hear.
        const from = this.segmenter.open ? Math.min(this.answered, this.segmenter.audioStart) : this.answered;
        this.sent = Math.max(from, this.ring.start);
        log.info(this.sent < this.clock ? `detection connected; catching up on ${Math.round(toMs(this.clock - this.sent))} ms of audio` : 'detection connected');
      },
      // --hangover-ms is the silence that ends an utterance: the detector's too, so it can lengthen it.
      options.hangoverMs > 0 ? { hangover_ms: Math.round(options.hangoverMs) } : undefined,
    );
  }

  /** Input should start once detection listens: audio before that would go unheard. */
  ready(): Promise<void> {
    return this.detect.opened;
  }

  /**
   * Audio reaches transcription as the detector answers for it, so an utterance is cut where the
   * detector says. With the detector away the audio waits for it (CATCH_UP_MS); past that, an open
   * utterance takes the audio as it comes.
   */
  async push(chunk: Buffer): Promise<void> {
    this.clock += chunk.length / 2;
    this.ring.push(chunk);
    if (this.detect.connected) {
      this.sendToDetector();
      await this.detect.drained(MAX_DETECT_LAG);
    } else if (this.clock - this.answered > toSamples(CATCH_UP_MS)) {
      // Audio aging out of what the detector could still catch up on goes, a chunk at a time (so
      // the maximum length still splits), to an open utterance.
      this.apply(this.segmenter.update({ to: this.clock - toSamples(CATCH_UP_MS) }));
    }
  }

  /** Everything after what the current connection was sent: the new chunk, or what it missed first. */
  private sendToDetector(): void {
    for (const piece of this.ring.pieces(this.sent, this.clock)) {
      this.detect.send(piece, this.sent);
      this.sent += piece.length / 2;
    }
  }

  /** Until the detector has answered for all the input, while it is back within CATCH_UP_MS. */
  private async heardAll(): Promise<void> {
    const deadline = Date.now() + CATCH_UP_MS;
    if (this.answered < this.clock && !this.detect.connected) this.options.log.info(`waiting up to ${CATCH_UP_MS / 1000} s for detection to hear the last ${Math.round(toMs(this.clock - this.answered))} ms`);
    while (this.answered < this.clock && Date.now() < deadline) {
      await this.detect.untilConnected(deadline - Date.now());
      if (!this.detect.connected) return;
      this.sendToDetector();
      await this.detect.drained(0, deadline - Date.now());
      // Every chunk answered (a chunk's error answers it too): nothing more will come.
      if (this.detect.connected && this.detect.pending === 0) return;
    }
  }

  /** The transcription service discards the audio while muted: utterances the detector still cuts are answered empty. */
  mute(muted: boolean): void {
    this.link.transcriber.control(JSON.stringify({ type: muted ? 'mute' : 'unmute' }));
  }

  async finish(): Promise<void> {
    await this.heardAll();
    this.apply(this.segmenter.finish(this.clock));
    await this.link.transcriber.idle();
    this.detect.close();
    this.link.transcriber.close();
    this.link.check();
  }

  private onDetect({ reply, base, chunkStart, chunkSamples }: DetectEvent): void {
    this.answered = Math.max(this.answered, chunkStart + chunkSamples);
    const abs = (offsetMs: number | undefined) => (offsetMs === undefined ? undefined : base + toSamples(offsetMs));
    if (reply.speech_start !== undefined) this.options.log.debug(`speech started at ${Math.round(toMs(base) + reply.speech_start)} ms (detector)`);
    this.apply(
      this.segmenter.update({
        to: chunkStart + chunkSamples,
        speech: reply.speech_detected,
        start: abs(reply.speech_start),
        end: abs(reply.speech_end),
        withdrawn: abs(reply.speech_withdrawn),
      }),
    );
  }

  private apply(actions: SegmentAction[]): void {
    const { log } = this.options;
    for (const a of actions) {
      if (a.type === 'audio') for (const piece of this.ring.pieces(a.from, a.to)) this.link.send(piece);
      else if (a.type === 'end') {
        if (a.reason === 'max_length') log.info(`utterance reached ${this.options.maxUtteranceMs} ms: flushing and continuing`);
        this.spans.set(this.link.transcriber.flush(), { start: a.start, end: a.end });
      } else if (a.type === 'discard') {
        log.debug('detector withdrew the utterance (no words in it)');
        this.link.transcriber.control(JSON.stringify({ type: 'reset' }));
      }
    }
  }

  private onEarly(message: Record<string, unknown>): void {
    const text = String(message.text ?? '');
    if (!this.options.early || !text) return;
    const start = this.segmenter.open ? toMs(this.segmenter.speechStart) : 0;
    this.options.onUtterance({ seq: message.seq as number, text, language: String(message.language), start_ms: start, end_ms: start, latency_ms: 0, final: false });
  }

  private onReply(message: Record<string, unknown>, latencyMs: number, at: number): void {
    this.options.onServerMessage?.(message, at);
    if (!isFinalAnswer(message)) return;
    const seq = message.seq as number;
    const span = this.spans.get(seq);
    this.spans.delete(seq);
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
      start_ms: span ? toMs(span.start) : 0,
      end_ms: span ? toMs(span.end) : 0,
      latency_ms: Math.round(latencyMs),
      final: true,
      ...(typeof message.inference_ms === 'number' ? { inference_ms: message.inference_ms } : {}),
      ...(typeof message.queue_ms === 'number' ? { queue_ms: message.queue_ms } : {}),
    });
  }
}

/** The transcription URL asking for speculative text (`early=1`), keeping any query it has. */
function withEarly(transcribeUrl: string): string {
  const url = new URL(transcribeUrl);
  url.searchParams.set('early', '1');
  return url.toString();
}
