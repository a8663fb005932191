/**
 * A connection's 16 kHz audio on an absolute sample clock, with the per-window speech
 * probabilities beside it. Old audio is dropped explicitly (trimBefore) once nothing can
 * reach back to it; ranges are copied out, so later trimming never changes an utterance.
 */
export class AudioLog {
  private chunks: Float32Array[] = [];
  /** Absolute position of chunks[0][0]. */
  private base = 0;
  private total = 0;

  /** Absolute position just past the last sample received. */
  get end(): number {
    return this.base + this.total;
  }

  /** Absolute position of the oldest sample kept. */
  get start(): number {
    return this.base;
  }

  push(pcm: Float32Array): void {
    if (pcm.length === 0) return;
    this.chunks.push(pcm);
    this.total += pcm.length;
  }

  /** A copy of [from, to), clamped to what is kept. */
  range(from: number, to: number): Float32Array {
    const lo = Math.max(from, this.base);
    const hi = Math.min(to, this.end);
    const out = new Float32Array(Math.max(0, hi - lo));
    let at = this.base;
    let o = 0;
    for (const c of this.chunks) {
      const cEnd = at + c.length;
      if (cEnd > lo && at < hi) {
        const part = c.subarray(Math.max(0, lo - at), Math.min(c.length, hi - at));
        out.set(part, o);
        o += part.length;
      }
      at = cEnd;
      if (at >= hi) break;
    }
    return out;
  }

  /** Forgets whole chunks that end at or before `position`. */
  trimBefore(position: number): void {
    while (this.chunks.length > 0 && this.base + this.chunks[0]!.length <= position) {
      const c = this.chunks.shift()!;
      this.base += c.length;
      this.total -= c.length;
    }
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
