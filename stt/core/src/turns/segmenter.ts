/**
 * Turns a detector's verdicts into utterances, on one clock of sample positions: where each
 * utterance's audio begins (a pre-roll before the detected start, never before the previous
 * utterance's end), which audio belongs to it, and where it ends. Transport-free: the service's
 * server-side turns feed it their own tracker's events, the clients feed it /ws/detect replies,
 * and each moves the audio the actions name.
 */
export interface SegmenterSettings {
  /** Audio kept before the detected start, in samples. */
  preRoll: number;
  /** An utterance this long (samples of audio) ends and a new one begins at once; 0: no limit. */
  maxLength: number;
  /** End after this much silence reported by `speech: false` updates (samples); 0: the detector's end decides. */
  hangover: number;
}

export type SegmentAction =
  /** An utterance begins: speech at `at`, its audio from `from`. */
  | { type: 'start'; at: number; from: number }
  /** Audio [from, to) belongs to the open utterance. */
  | { type: 'audio'; from: number; to: number }
  /** The open utterance ends: its speech spans [start, end). */
  | { type: 'end'; start: number; end: number; reason: 'speech_end' | 'hangover' | 'max_length' | 'finish' }
  /** The open utterance is withdrawn (no words in it): forget its audio. */
  | { type: 'discard'; start: number };

export interface DetectorUpdate {
  /** The detector has judged audio up to here (exclusive). */
  to: number;
  /** Speech in the audio this update covers (for the hang-over count). */
  speech?: boolean;
  /** Speech started at this position. */
  start?: number;
  /** Speech ended at this position. */
  end?: number;
  /** The utterance that started at this position had no words after all. */
  withdrawn?: number;
}

export class Segmenter {
  private start = -1;
  private from = 0;
  private sentUntil = 0;
  private judged = 0;
  private lastEnd = 0;
  private silence = 0;
  /** The detector's own utterance (its start), while it has not ended it: -1 when none. */
  private heard = -1;

  constructor(public settings: SegmenterSettings) {}

  get open(): boolean {
    return this.start >= 0;
  }

  /** Where the open utterance's speech began (-1 when none is open). */
  get speechStart(): number {
    return this.start;
  }

  /** Where the open utterance's audio began. */
  get audioStart(): number {
    return this.from;
  }

  /** One detector verdict, in order; returns what to do with the audio. */
  update(u: DetectorUpdate): SegmentAction[] {
    const actions: SegmentAction[] = [];
    const covered = Math.max(0, u.to - this.judged);
    this.judged = Math.max(this.judged, u.to);
    if (u.start !== undefined) {
      this.heard = u.start;
      if (!this.open) this.begin(u.start, this.preRollFrom(u.start), actions);
    } else if (!this.open && this.heard >= 0 && u.speech === true) {
      // Our hang-over ended the utterance but the detector's goes on and speech resumed: without
      // this, those words would wait for a speech_start that does not come until its utterance ends.
      const at = u.to - covered;
      this.begin(at, this.preRollFrom(at), actions);
    }
    const withdrawn = u.withdrawn !== undefined && u.withdrawn === this.heard;
    if (withdrawn || u.end !== undefined) this.heard = -1;
    if (!this.open) return actions;
    if (withdrawn) {
      // Its audio is forgotten, so none more is sent; the next pre-roll does not reach back into it.
      actions.push({ type: 'discard', start: this.start });
      this.start = -1;
      this.lastEnd = Math.max(this.sentUntil, u.to);
      return actions;
    }
    if (u.end !== undefined) {
      // No max-length split here: it would open an utterance that ends at once with no speech in it.
      this.sendUpTo(u.to, false, actions);
      this.end(u.end, 'speech_end', actions);
      return actions;
    }
    this.sendUpTo(u.to, true, actions);
    if (this.settings.hangover > 0 && u.speech !== undefined) {
      this.silence = u.speech ? 0 : this.silence + covered;
      if (this.silence >= this.settings.hangover) this.end(u.to - this.silence, 'hangover', actions);
    }
    return actions;
  }

  /** Input ended (or the user stops): the open utterance takes the audio up to `to` and ends. */
  finish(to: number): SegmentAction[] {
    const actions: SegmentAction[] = [];
    this.heard = -1;
    if (!this.open) return actions;
    this.sendUpTo(to, false, actions);
    this.end(to, 'finish', actions);
    return actions;
  }

  /** A pre-roll never reaches into audio an earlier utterance already took. */
  private preRollFrom(at: number): number {
    return Math.max(this.lastEnd, at - this.settings.preRoll, 0);
  }

  private begin(at: number, from: number, actions: SegmentAction[]): void {
    this.start = at;
    this.from = from;
    this.sentUntil = from;
    this.silence = 0;
    actions.push({ type: 'start', at, from });
  }

  private sendUpTo(to: number, split: boolean, actions: SegmentAction[]): void {
    if (to > this.sentUntil) {
      actions.push({ type: 'audio', from: this.sentUntil, to });
      this.sentUntil = to;
    }
    const { maxLength } = this.settings;
    if (split && maxLength > 0 && this.sentUntil - this.from >= maxLength) {
      this.end(this.sentUntil, 'max_length', actions);
      this.begin(this.sentUntil, this.sentUntil, actions);
    }
  }

  private end(at: number, reason: 'speech_end' | 'hangover' | 'max_length' | 'finish', actions: SegmentAction[]): void {
    actions.push({ type: 'end', start: this.start, end: Math.max(at, this.start), reason });
    this.start = -1;
    this.lastEnd = this.sentUntil;
  }
}
