import { concatFloat32 } from '../audio/pcm.js';
import { SampleLog } from '../audio/sample_log.js';

/**
 * A connection's 16 kHz audio on an absolute sample clock, with the per-window speech
 * probabilities beside it. Old audio is dropped explicitly (trimBefore) once nothing can
 * reach back to it; ranges are copied out, so later trimming never changes an utterance.
 */
export class AudioLog extends SampleLog<Float32Array> {
  /** A copy of [from, to), clamped to what is kept. */
  range(from: number, to: number): Float32Array {
    return concatFloat32(this.pieces(from, to));
  }
}

/** Speech probabilities per 512-sample window, by absolute window index. */
export class WindowLog {
  private values: number[] = [];
  private base = 0;

  get end(): number {
    return this.base + this.values.length;
  }

  push(p: number): void {
    this.values.push(p);
  }

  /** Windows [from, to) that are still kept. */
  slice(from: number, to = this.end): number[] {
    return this.values.slice(Math.max(0, from - this.base), Math.max(0, to - this.base));
  }

  trimBefore(window: number): void {
    const drop = Math.min(this.values.length, window - this.base);
    if (drop <= 0) return;
    this.values.splice(0, drop);
    this.base += drop;
  }
}
