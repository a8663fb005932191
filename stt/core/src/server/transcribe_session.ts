import { SAMPLE_RATE, type Encoding, type PcmFormat } from '../audio/format.js';
import { concatFloat32 } from '../audio/pcm.js';
import { resample } from '../audio/resample.js';
import type { ConfigAck, ConfigMessage, ErrorMessage, ResetAck, TranscriptMessage } from '../protocol/messages.js';
import type { SileroStream } from '../vad/silero.js';
import { decodeFrame } from './frame.js';
import type { Limits } from './limits.js';
import type { RequestOptions, Transcriber } from './transcriber.js';

export type Reply = TranscriptMessage | ErrorMessage | ConfigAck | ResetAck;

function errorOf(error: unknown): ErrorMessage {
  const code = (error as { code?: string }).code;
  const known = ['bad_audio', 'overloaded', 'engine_error', 'engine_unavailable'] as const;
  return {
    type: 'error',
    error: error instanceof Error ? error.message : String(error),
    code: (known as readonly string[]).includes(code ?? '') ? (code as ErrorMessage['code']) : 'engine_error',
  };
}

/**
 * One `/ws/transcribe` connection: its audio buffer, options and flush sequence. Transport-free
 * (it returns replies instead of writing them) so the rules are testable and reusable.
 */
export class TranscribeSession {
  private chunks: Float32Array[] = [];
  private samples = 0;
  private seq = 0;
  private options: Required<RequestOptions>;
  private format: PcmFormat;
  /** Streaming VAD for the utterance being buffered (16 kHz input only: others are resampled at flush). */
  private vadStream?: SileroStream;
  private vadResults: Promise<number[]>[] = [];
  private replies: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(
    private readonly transcriber: Transcriber,
    private readonly limits: Limits,
    format: PcmFormat,
    private readonly newVadStream?: () => SileroStream,
  ) {
    this.format = format;
    const s = transcriber.settings;
    this.options = { language: s.language, prompt: s.prompt, translate: false };
    this.startUtterance();
  }

  get bufferedMs(): number {
    return Math.round((this.samples / this.format.sampleRate) * 1000);
  }

  /** Appends a binary frame; returns an error reply when the frame is refused (nothing is buffered then). */
  append(frame: Uint8Array): ErrorMessage | undefined {
    const decoded = decodeFrame(frame, this.format, this.limits);
    if (!(decoded instanceof Float32Array)) return decoded;
    const pcm = decoded;
    const maxSamples = this.limits.maxBufferSeconds * this.format.sampleRate;
    if (this.samples + pcm.length > maxSamples) {
      return {
        type: 'error',
        code: 'buffer_full',
        error: `buffer limit of ${this.limits.maxBufferSeconds} s reached (STT_MAX_BUFFER_SECONDS): this frame was not added; send <flush> to transcribe what is buffered`,
      };
    }
    if (pcm.length === 0) return undefined;
    this.chunks.push(pcm);
    this.samples += pcm.length;
    if (this.vadStream) this.vadResults.push(this.vadStream.push(pcm));
    return undefined;
  }

  /**
   * Takes everything buffered and transcribes it. Replies resolve in flush order even when a
   * later flush is shorter, because each waits for the one before it.
   */
  flush(receivedAt = performance.now()): Promise<TranscriptMessage | ErrorMessage> {
    const seq = ++this.seq;
    const input = concatFloat32(this.chunks, this.samples);
    const inputRate = this.format.sampleRate;
    const vadResults = this.vadResults;
    const streamedVad = this.vadStream !== undefined;
    this.startUtterance();
    const options = { ...this.options };
    const previous = this.replies;
    const work = (async (): Promise<TranscriptMessage | ErrorMessage> => {
      try {
        const pcm = resample(input, inputRate, SAMPLE_RATE);
        const probabilities = streamedVad ? (await Promise.all(vadResults)).flat() : undefined;
        const result = await this.transcriber.transcribe(pcm, options, this.abort.signal, probabilities);
        await previous;
        const { audio_ctx: _ctx, ...fields } = result;
        return { type: 'transcript', seq, ...fields, latency_ms: Math.round(performance.now() - receivedAt) };
      } catch (error) {
        await previous;
        return { ...errorOf(error), seq };
      }
    })();
    this.replies = work.catch(() => undefined);
    return work;
  }

  configure(message: ConfigMessage): ConfigAck | ErrorMessage {
    const formatChange = message.sample_rate !== undefined || message.encoding !== undefined;
    if (formatChange && this.samples > 0) {
      return {
        type: 'error',
        code: 'bad_message',
        error: `cannot change sample_rate or encoding with ${this.bufferedMs} ms buffered; send <flush> or reset first`,
      };
    }
    if (message.language !== undefined) this.options.language = message.language;
    if (message.prompt !== undefined) this.options.prompt = message.prompt;
    if (message.translate !== undefined) this.options.translate = message.translate;
    if (formatChange) {
      this.format = {
        ...this.format,
        sampleRate: message.sample_rate ?? this.format.sampleRate,
        encoding: (message.encoding ?? this.format.encoding) as Encoding,
      };
      this.startUtterance();
    }
    return {
      type: 'config',
      ...this.options,
      sample_rate: this.format.sampleRate,
      encoding: this.format.encoding,
    };
  }

  reset(): ResetAck {
    const discarded = this.bufferedMs;
    this.startUtterance();
    return { type: 'reset', discarded_ms: discarded };
  }

  /** The client left: queued work for it is dropped, running work is discarded when it ends. */
  close(): void {
    this.abort.abort();
  }

  private startUtterance(): void {
    this.chunks = [];
    this.samples = 0;
    this.vadResults = [];
    this.vadStream = this.format.sampleRate === SAMPLE_RATE ? this.newVadStream?.() : undefined;
  }
}
