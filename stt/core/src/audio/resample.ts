import { concatFloat32 } from './pcm.js';
/**
 * Band-limited resampling with a Hann-windowed sinc, cutoff at the lower Nyquist so 48 kHz input
 * does not alias into speech bands. Streaming: chunks of any size give the same output as the
 * whole signal at once, which per-chunk speech detection needs; `resample()` is the one-shot form.
 */
const HALF_WIDTH = 16; // zero crossings on each side, at the output's scale

export class StreamingResampler {
  private readonly step: number; // input samples per output sample
  private readonly cutoff: number;
  private readonly radius: number;
  private history = new Float32Array(0);
  /** Absolute input index of history[0]. */
  private historyStart = 0;
  /** Next output sample to produce, as an absolute index. */
  private nextOut = 0;
  private inputSeen = 0;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    this.step = fromRate / toRate;
    this.cutoff = Math.min(1, toRate / fromRate);
    this.radius = Math.ceil(HALF_WIDTH / this.cutoff);
  }

  /** Output for every sample whose filter window is complete; the rest waits for more input. */
  push(input: Float32Array): Float32Array {
    if (this.fromRate === this.toRate) return input;
    const merged = concatFloat32([this.history, input]);
    this.inputSeen += input.length;
    const out = this.produce(merged, this.inputSeen - this.radius - 1);
    const keepFrom = Math.max(0, Math.floor(this.nextOut * this.step) - this.radius - this.historyStart);
    this.history = merged.slice(keepFrom);
    this.historyStart += keepFrom;
    return out;
  }

  /** The tail, treating the signal as ended (zeros beyond it). */
  end(): Float32Array {
    if (this.fromRate === this.toRate) return new Float32Array(0);
    const total = Math.floor((this.inputSeen * this.toRate) / this.fromRate);
    return this.produce(this.history, Number.POSITIVE_INFINITY, total);
  }

  private produce(buffer: Float32Array, lastCenter: number, limit = Number.POSITIVE_INFINITY): Float32Array {
    const values: number[] = [];
    const { step, cutoff, radius } = this;
    while (this.nextOut < limit) {
      const center = this.nextOut * step;
      if (center > lastCenter) break;
      const first = Math.max(0, Math.ceil(center - radius));
      const last = Math.min(this.inputSeen - 1, Math.floor(center + radius));
      let acc = 0;
      let norm = 0;
      for (let j = first; j <= last; j++) {
        const x = (j - center) * cutoff;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const k = sinc * (0.5 + 0.5 * Math.cos((Math.PI * (j - center)) / (radius + 1)));
        acc += buffer[j - this.historyStart]! * k;
        norm += k;
      }
      values.push(norm > 0 ? acc / norm : 0);
      this.nextOut++;
    }
    return Float32Array.from(values);
  }
}

export function resample(input: Float32Array, fromRate: number, toRate: number): Float32Array {
  if (fromRate === toRate) return input;
  const r = new StreamingResampler(fromRate, toRate);
  return concatFloat32([r.push(input), r.end()]);
}
