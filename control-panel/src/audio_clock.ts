/** How far back the clock remembers: past the longest utterance plus the end-of-turn wait. */
const KEEP_MS = 120_000;

/**
 * When each stretch of the audio this page sent was captured, so a position on the connection's
 * audio timeline (a final's `end_ms`: where the service heard speech end) maps to the moment the
 * streamer actually stopped. That is what they wait from, not the moment speech_end arrived
 * (which comes after the end-of-turn silence has already passed).
 */
export class AudioClock {
  /** Each chunk's samples [start, end) since the connection opened, and when it was captured. */
  private marks: { start: number; end: number; at: number }[] = [];

  constructor(private readonly rate: number) {}

  /** Samples [start, end) were captured by `at` (performance.now(), as the chunk arrives from the microphone). */
  mark(start: number, end: number, at: number): void {
    this.marks.push({ start, end, at });
    const cut = this.marks.findIndex((m) => m.at >= at - KEEP_MS);
    if (cut > 0) this.marks.splice(0, cut);
  }

  /** performance.now() when sample `position` was captured; undefined when it is older than the clock keeps or not sent yet. */
  at(position: number): number | undefined {
    const m = this.marks.find((mark) => mark.end >= position);
    if (!m || position < this.marks[0]!.start) return undefined;
    return m.at - ((m.end - position) / this.rate) * 1000;
  }

  /** The same for a position in ms of audio (the protocol's offsets). */
  atMs(ms: number): number | undefined {
    return this.at(Math.round((ms / 1000) * this.rate));
  }
}
