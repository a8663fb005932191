/**
 * The latency a speaker feels: from the moment the client learns the turn is over (speech_end
 * arrived, or `<flush>` sent) to the arrival of that utterance's final. Keyed by seq, so an answer
 * that is an error, or one that overtakes another, settles its own utterance and no other.
 */
export class FinalClock {
  private readonly ends = new Map<number, number>();

  /** Utterance `seq` ended at `at` (a performance.now() reading). */
  end(seq: number, at: number): void {
    this.ends.set(seq, at);
  }

  /** Its final (or error) arrived at `at`: ms since its end, or undefined when no end was seen for it. */
  settle(seq: number, at: number): number | undefined {
    const ended = this.ends.get(seq);
    this.ends.delete(seq);
    return ended === undefined ? undefined : Math.max(0, Math.round(at - ended));
  }

  /** Ends still waiting for their final. */
  get waiting(): number {
    return this.ends.size;
  }
}
