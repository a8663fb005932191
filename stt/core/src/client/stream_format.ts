import { bytesPerFrame, DEFAULT_FORMAT, type Encoding, type PcmFormat } from '../audio/format.js';

/**
 * The format of the audio a connection carries, as the service last acknowledged it: how many
 * bytes make one sample frame, and how many ms a frame of audio lasts (the replay clock).
 */
export class StreamFormat {
  private format: PcmFormat;

  constructor(initial: PcmFormat = DEFAULT_FORMAT) {
    this.format = { ...initial };
  }

  get current(): PcmFormat {
    return { ...this.format };
  }

  /** Bytes of one sample across all channels: every binary frame is a whole number of these. */
  get frameBytes(): number {
    return bytesPerFrame(this.format);
  }

  /** Duration of `bytes` of audio, in ms. */
  msOf(bytes: number): number {
    return (bytes / this.frameBytes / this.format.sampleRate) * 1000;
  }

  /** A config ack echoes the format in force from then on. */
  acknowledged(ack: Record<string, unknown>): void {
    if (typeof ack.sample_rate === 'number' && ack.sample_rate > 0) this.format.sampleRate = ack.sample_rate;
    if (ack.encoding === 's16le' || ack.encoding === 'f32le') this.format.encoding = ack.encoding as Encoding;
  }
}
