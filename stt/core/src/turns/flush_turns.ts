import type { TurnMode } from '../protocol/messages.js';
import { WINDOW } from '../vad/silero.js';
import { DEFAULT_TRACKER, releaseFor, UtteranceTracker } from '../vad/utterance_tracker.js';
import { TurnTaker, type TurnContext, type TurnTaking } from './turn_taking.js';
import type { Utterance } from './utterance.js';

/**
 * Protocol v1's turns: the client ends each utterance with `<flush>`. An utterance opens as soon
 * as the last one is flushed, so it owns the windows to come; the VAD (when there is one) only
 * measures its pauses, to start a speculative decode the flush can take as its final. Each
 * stretch between flushes gets a fresh VAD stream and resampler.
 */
export class FlushTurns extends TurnTaker implements TurnTaking {
  readonly mode: TurnMode = 'flush';
  /** Where the audio since the last flush (or reset) begins. */
  private from: number;
  private tracker!: UtteranceTracker;

  constructor(ctx: TurnContext) {
    super(ctx);
    this.from = ctx.log.end;
    this.newStretch();
  }

  /** Server turns only: the session refuses turning them on here, so off is all there is to set. */
  get partials(): boolean {
    return false;
  }

  set partials(_off: boolean) {}

  get turnEvents(): boolean {
    return false;
  }

  set turnEvents(_off: boolean) {}

  get bufferedSamples(): number {
    return this.ctx.log.end - this.from;
  }

  get heldSamples(): number {
    return this.bufferedSamples;
  }

  get heard(): boolean {
    return this.ctx.log.end > this.from;
  }

  push(pcm: Float32Array): void {
    const vad = this.vad;
    if (!vad) return;
    // The windows belong to the utterance open now, whatever a later flush opens meanwhile.
    const u = this.current!;
    const tracker = this.tracker;
    this.ctx.enqueue(async () => this.onWindows(await vad.push(pcm), u, tracker));
  }

  flush(receivedAt: number): void {
    this.ctx.newStretch(true);
    const upTo = this.ctx.log.end;
    const utterance = this.current!;
    this.from = upTo;
    this.newStretch();
    this.ctx.enqueue(async () => this.finish(utterance, upTo, receivedAt, () => {}));
  }

  /** The open utterance is reopened under the same seq: no flush answered it. */
  reset(): void {
    const open = this.current;
    open?.cancel();
    this.from = this.ctx.log.end;
    this.ctx.newStretch(false);
    this.newStretch(open?.seq);
  }

  restart(): void {
    this.reset();
  }

  mute(): void {
    this.reset();
  }

  /** Nothing: in flush mode only the audio between flushes matters, and none of it may be heard. */
  whileMuted(): undefined {
    return undefined;
  }

  configure(): void {
    this.tracker.settings = this.trackerSettings();
  }

  protected override decodeStarted(upTo: number): void {
    this.ctx.log.trimBefore(upTo);
  }

  private newStretch(keepSeq?: number): void {
    this.vad = this.ctx.newVad();
    this.tracker = new UtteranceTracker(this.trackerSettings());
    this.current = this.open(this.from, keepSeq);
  }

  private trackerSettings() {
    const t = this.ctx.settings();
    return { threshold: t.threshold, negThreshold: releaseFor(t.threshold), minSpeechMs: t.minSpeechMs, hangoverMs: t.endOfTurnMs, frameHoldMs: DEFAULT_TRACKER.frameHoldMs };
  }

  private onWindows(probabilities: number[], u: Utterance, tracker: UtteranceTracker): void {
    for (const p of probabilities) {
      u.probs.push(p);
      tracker.push(p);
    }
    if (tracker.inSpeech) u.step(this.ctx.log, u.from + u.probs.length * WINDOW, tracker.silenceMs, this.ctx.settings());
  }
}
