/**
 * The last few seconds of microphone audio, each chunk stamped with its sample position, so an
 * utterance announced a little after it began can be sent from before its start.
 */
export class ChunkRing {
  private readonly chunks: { start: number; data: Float32Array }[] = [];
  private samples = 0;

  constructor(private readonly keepSamples: number) {}

  push(start: number, data: Float32Array): void {
    this.chunks.push({ start, data });
    this.samples += data.length;
    while (this.chunks.length > 1 && this.samples - this.chunks[0]!.data.length >= this.keepSamples) this.samples -= this.chunks.shift()!.data.length;
  }

  /** The kept audio in [from, to), oldest first. */
  range(from: number, to: number): Float32Array[] {
    const out: Float32Array[] = [];
    for (const c of this.chunks) {
      const end = c.start + c.data.length;
      if (end <= from || c.start >= to) continue;
      out.push(c.data.subarray(Math.max(0, from - c.start), Math.min(c.data.length, to - c.start)));
    }
    return out;
  }
}
