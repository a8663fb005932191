import { FinalClock, isFinalAnswer } from '@vtuber-stt/core/client';
import type { StreamerOptions, TurnFlow, Utterance } from './turn_flow.js';
import { openTranscription, type Transcription } from './transcription.js';

/**
 * The transcription URL with `turns=server` (and `early=1` when the early text is wanted) added
 * to whatever query it already has. Early text not asked for is never sent: each one would
 * cross both legs (service to proxy, proxy to client) only to be dropped here.
 */
export function serverTurnsUrl(transcribeUrl: string, early: boolean): string {
  const url = new URL(transcribeUrl);
  url.searchParams.set('turns', 'server');
  if (early) url.searchParams.set('early', '1');
  return url.toString();
}

/** The client's settings as a config message: the service applies them to the turns it hears. */
export function serverTurnsConfig(
  options: Pick<StreamerOptions, 'language' | 'prompt' | 'preRollMs' | 'maxUtteranceMs' | 'hangoverMs' | 'partials' | 'turnEvents'>,
): Record<string, unknown> {
  const config: Record<string, unknown> = { type: 'config', pre_roll_ms: Math.round(options.preRollMs), max_utterance_ms: Math.round(options.maxUtteranceMs) };
  if (options.partials) config.partials = true;
  if (options.turnEvents) config.turn_events = true;
  if (options.language) config.language = options.language;
  if (options.prompt) config.prompt = options.prompt;
  if (options.hangoverMs > 0) {
    // "End after this much silence" is the end-of-turn wait, sentence or not.
    config.end_of_turn_ms = Math.round(options.hangoverMs);
    config.sentence_end_ms = Math.round(options.hangoverMs);
  }
  return config;
}

const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

/**
 * Server-side turns: every chunk goes to one `?turns=server` socket and the service says where
 * utterances start and end. Latency is what the speaker feels: from speech_end's arrival (the
 * service decided the turn is over) to the final's.
 */
export class ServerTurns implements TurnFlow {
  private readonly link: Transcription;
  private readonly clock = new FinalClock();
  /** speech_start's offset per open seq: speculative text does not carry the utterance's times. */
  private readonly starts = new Map<number, number>();

  constructor(private readonly options: StreamerOptions) {
    this.link = openTranscription(options, {
      url: serverTurnsUrl(options.transcribeUrl, Boolean(options.early)),
      turns: 'server',
      onReply: (message) => this.onFinal(message, performance.now()),
      onMessage: (message) => this.onEvent(message, performance.now()),
    });
    this.link.transcriber.control(JSON.stringify(serverTurnsConfig(options)));
  }

  ready(): Promise<void> {
    return this.link.connected;
  }

  async push(chunk: Buffer): Promise<void> {
    this.link.send(chunk);
  }

  async finish(): Promise<void> {
    // Ends the utterance in progress at once; with none, it is answered by an empty final.
    this.link.transcriber.flush();
    await this.link.transcriber.idle();
    this.link.transcriber.close();
    this.link.check();
  }

  mute(muted: boolean): void {
    this.link.transcriber.control(JSON.stringify({ type: muted ? 'mute' : 'unmute' }));
  }

  private onEvent(m: Record<string, unknown>, at: number): void {
    this.options.onServerMessage?.(m, at);
    const { log } = this.options;
    if (m.type === 'speech_start') {
      this.starts.set(m.seq as number, m.start_ms as number);
      log.debug(`utterance ${String(m.seq)} started at ${String(m.start_ms)} ms`);
    } else if (m.type === 'speech_end') this.clock.end(m.seq as number, at);
    else if (m.type === 'partial') {
      if (typeof m.text === 'string') this.options.onPartial?.({ seq: m.seq as number, text: m.text, stable: String(m.stable ?? ''), language: String(m.language) });
    } else if (m.type === 'transcript' && m.final === false) {
      if (this.options.early && m.text) this.options.onUtterance(this.utterance(m, num(m.latency_ms) ?? 0, false));
    } else if (m.type === 'error') log.warn(`transcription service: ${String(m.error)}`);
    else if (m.type === 'config') log.debug(`transcription settings: ${JSON.stringify(m)}`);
  }

  private onFinal(m: Record<string, unknown>, at: number): void {
    this.options.onServerMessage?.(m, at);
    if (!isFinalAnswer(m)) return;
    const seq = m.seq as number;
    const latency = this.clock.settle(seq, at);
    this.starts.delete(seq);
    if (m.type !== 'transcript') {
      this.options.log.warn(`utterance ${seq} not transcribed: ${String(m.error)}`);
      return;
    }
    if (!m.text) {
      this.options.log.debug(`utterance ${seq}: no words (${String(m.dropped ?? 'empty')})`);
      return;
    }
    this.options.onUtterance(this.utterance(m, latency ?? num(m.latency_ms) ?? 0, true));
  }

  /** A speculative line carries no utterance times: its span is the audio it decoded (`decoded_ms`). */
  private utterance(m: Record<string, unknown>, latencyMs: number, final: boolean): Utterance {
    const decoded = Array.isArray(m.decoded_ms) ? (m.decoded_ms as unknown[]).map(num) : [];
    const start = num(m.start_ms) ?? this.starts.get(m.seq as number) ?? decoded[0] ?? 0;
    const u: Utterance = {
      seq: m.seq as number,
      text: String(m.text),
      language: String(m.language),
      start_ms: start,
      end_ms: num(m.end_ms) ?? decoded[1] ?? start,
      latency_ms: Math.round(latencyMs),
      final,
    };
    if (m.speculative === 'hit' || m.speculative === 'miss' || m.speculative === 'none') u.speculative = m.speculative;
    if (num(m.inference_ms) !== undefined) u.inference_ms = num(m.inference_ms);
    if (num(m.queue_ms) !== undefined) u.queue_ms = num(m.queue_ms);
    return u;
  }
}
