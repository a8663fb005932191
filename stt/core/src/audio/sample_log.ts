/** A run of samples: a Float32Array (one element a sample), or a Buffer of s16le (two bytes a sample). */
export interface SampleRun<T> {
  readonly length: number;
  subarray(begin: number, end?: number): T;
}

export interface SampleLogOptions {
  /** Elements of a chunk per sample: 1 for Float32Array, 2 for a Buffer of s16le. */
  unitsPerSample?: number;
  /** A ring: old chunks go on their own, keeping at least this many of the newest samples. */
  keepSamples?: number;
}

/**
 * Audio on an absolute sample clock: chunks appended in order, the first starting at position 0,
 * so a position reported later (a speech start the detector confirmed after the fact) can still be
 * read back, pre-roll included. The service, the CLI and the control panel each keep their audio
 * here. Old audio goes in whole chunks: when asked (trimBefore), or on its own past `keepSamples`.
 * No Node built-ins: the panel is bundled from it.
 */
export class SampleLog<T extends SampleRun<T>> {
  private readonly chunks: T[] = [];
  /** Absolute position of the first sample of chunks[0]. */
  private base = 0;
  /** Samples kept. */
  private total = 0;
  private readonly unit: number;
  private readonly keepSamples: number;

  constructor(options: SampleLogOptions = {}) {
    this.unit = options.unitsPerSample ?? 1;
    this.keepSamples = options.keepSamples ?? Infinity;
  }

  /** Absolute position just past the last sample received. */
  get end(): number {
    return this.base + this.total;
  }

  /** Absolute position of the oldest sample kept. */
  get start(): number {
    return this.base;
  }

  /** Appends the next chunk (at `end`). */
  push(chunk: T): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length / this.unit;
    while (this.chunks.length > 1 && this.total - this.samplesIn(this.chunks[0]!) >= this.keepSamples) this.dropOldest();
  }

  /** The kept audio in [from, to), oldest first: views into the chunks, cut at both ends (no copy). */
  pieces(from: number, to: number): T[] {
    // Found from the newest chunk back: callers ask for recent audio, once per chunk received,
    // and a ring may hold many seconds of chunks.
    let i = this.chunks.length;
    let at = this.end;
    while (i > 0 && at > from) at -= this.samplesIn(this.chunks[--i]!);
    const out: T[] = [];
    for (; i < this.chunks.length && at < to; i++) {
      const c = this.chunks[i]!;
      const n = this.samplesIn(c);
      if (at + n > from) out.push(c.subarray(Math.max(0, from - at) * this.unit, Math.min(n, to - at) * this.unit));
      at += n;
    }
    return out;
  }

  /** Forgets whole chunks that end at or before `position`. */
  trimBefore(position: number): void {
    while (this.chunks.length > 0 && this.base + this.samplesIn(this.chunks[0]!) <= position) this.dropOldest();
  }

  private samplesIn(chunk: T): number {
    return chunk.length / this.unit;
  }

  private dropOldest(): void {
    const n = this.samplesIn(this.chunks.shift()!);
    this.base += n;
    this.total -= n;
  }
}
