/**
 * The sliding buffer: the last few seconds of audio, each chunk stamped with its position. When
 * speech is reported (a little after it began), the utterance is taken from here, starting a
 * pre-roll before the reported start, so the first syllable is never cut off.
 */
export class PreRollBuffer {
  private readonly chunks: { startSample: number; data: Buffer }[] = [];
  private samples = 0;

  constructor(private readonly keepSamples: number) {}

  push(startSample: number, data: Buffer): void {
    this.chunks.push({ startSample, data });
    this.samples += data.length / 2;
    while (this.chunks.length > 1 && this.samples - this.chunks[0]!.data.length / 2 >= this.keepSamples) {
      this.samples -= this.chunks.shift()!.data.length / 2;
    }
  }

  /** The kept audio between two positions, oldest first (whole chunks, trimmed at `from`). */
  range(from: number, to: number): Buffer[] {
    const out: Buffer[] = [];
    for (const c of this.chunks) {
      const end = c.startSample + c.data.length / 2;
      if (end <= from || c.startSample >= to) continue;
      out.push(c.startSample < from ? c.data.subarray((from - c.startSample) * 2) : c.data);
    }
    return out;
  }
}
