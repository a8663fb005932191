/**
 * The reference (what the speaker plays) laid out on the microphone's sample clock. A chunk
 * arrives "now", where the microphone is; the speaker plays chunks back to back, so a chunk
 * that arrives while earlier reference is still ahead of the microphone continues after it,
 * and one that arrives after a pause starts at the microphone's position. Each microphone frame
 * then reads the reference at its own position (zeros where nothing played), which is what lets
 * the echo canceller pair the mic with what the speaker emitted at that moment, whatever chunk
 * sizes and arrival order the two streams have.
 */
export class ReferenceClock {
  private readonly ring: Int16Array;
  /** Absolute sample positions (on the mic clock): everything before `readPos` is consumed. */
  private readPos = 0;
  /** End of the reference written so far (may lag `readPos` after a pause). */
  private writeEnd = 0;
  /** Position after the last non-silent reference sample: lets the canceller idle when none played. */
  private lastSoundEnd = -Infinity;

  constructor(private readonly capacity: number) {
    this.ring = new Int16Array(capacity);
  }

  /** Queue reference audio at `micPos` (the count of mic samples received so far) or after what is queued. */
  write(pcm: Float32Array, micPos: number): void {
    const start = Math.max(this.writeEnd, micPos, this.readPos);
    const end = start + pcm.length;
    if (end - this.readPos > this.capacity) {
      throw new RangeError(
        `reference audio runs ${Math.round(((end - micPos) / 16000) * 1000)} ms ahead of the microphone; ` +
          `at most ${Math.round((this.capacity / 16000) * 1000)} ms may be queued`,
      );
    }
    // A pause in playback: the ring slots between hold stale samples, so silence them.
    for (let pos = Math.max(this.writeEnd, this.readPos); pos < start; pos++) this.ring[pos % this.capacity] = 0;
    for (let i = 0; i < pcm.length; i++) {
      const s = pcm[i]!;
      // Clamp, then scale to int16 as speexdsp works in fixed-point sample units.
      const v = s >= 1 ? 32767 : s <= -1 ? -32768 : Math.round(s * 32767);
      this.ring[(start + i) % this.capacity] = v;
      if (v !== 0) this.lastSoundEnd = start + i + 1;
    }
    this.writeEnd = end;
  }

  /** Fill `out` with the reference at mic positions [pos, pos + out.length); drop what lies before pos + consume. */
  read(pos: number, out: Int16Array, consume = out.length): void {
    for (let i = 0; i < out.length; i++) {
      const p = pos + i;
      out[i] = p >= this.readPos && p < this.writeEnd ? this.ring[p % this.capacity]! : 0;
    }
    this.readPos = Math.max(this.readPos, pos + consume);
  }

  /** Mic samples since the speaker last played sound, at position `pos` (Infinity: never). */
  silentFor(pos: number): number {
    return pos - this.lastSoundEnd;
  }
}
