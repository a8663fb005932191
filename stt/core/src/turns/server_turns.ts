import type { ErrorMessage, PartialMessage, TranscriptMessage, TurnEvent, TurnMode } from '../protocol/messages.js';
import { shiftSegments } from '../protocol/segment_times.js';
import { WINDOW } from '../vad/silero.js';
import { DEFAULT_TRACKER, releaseFor, UtteranceTracker } from '../vad/utterance_tracker.js';
import { WindowLog } from './audio_log.js';
import { EndOfTurnPolicy } from './end_of_turn.js';
import { LocalAgreement } from './local_agreement.js';
import { Segmenter, type SegmentAction } from './segmenter.js';
import { msOfSamples as ms, samplesOfMs as samplesOf } from '../audio/format.js';
import { TurnTaker, type TurnContext, type TurnTaking } from './turn_taking.js';
import type { Transcript } from '../decode/transcriber.js';
import type { Utterance } from './utterance.js';

type EndedBy = 'silence' | 'flush' | 'max_length' | 'mute';

/** Audio between two `heard` messages (samples): one a second. */
const HEARD_EVERY = samplesOf(1000);

/**
 * Server-side turns (`turns=server`): one Silero stream over the whole connection; the utterance
 * tracker hears speech start and stop, the end-of-turn policy says how long a pause ends a turn,
 * and the segmenter cuts utterances (pre-roll, maximum length). Each utterance is announced
 * (`speech_start`, `speech_end`), optionally re-decoded while it runs (partials), and answered
 * with one final; every offset is on the connection's timeline.
 */
export class ServerTurns extends TurnTaker implements TurnTaking {
  readonly mode: TurnMode = 'server';
  private readonly windows = new WindowLog();
  private readonly endOfTurn: EndOfTurnPolicy;
  private readonly tracker: UtteranceTracker;
  private readonly segmenter: Segmenter;
  private partialsOn: boolean;
  /** Whether `turn` events go out. */
  turnEvents: boolean;
  /** The seq whose eager end went out, while neither resumed nor ended since. */
  private eager?: number;
  /** Early text of the pause in progress, held until the pause has lasted `eager_end_ms`. */
  private early?: { seq: number; text: string; language?: string };
  /** Where the last `heard` message said the service had listened (samples). */
  private heardAt = 0;
  /** Utterances that started over an uncancelled line (seq to start ms): an interruption once their words are not the line's. */
  private readonly interruptOnText = new Map<number, number>();

  constructor(ctx: TurnContext, partials: boolean, turnEvents: boolean) {
    super(ctx);
    this.partialsOn = partials;
    this.turnEvents = turnEvents;
    this.endOfTurn = new EndOfTurnPolicy(ctx.settings());
    this.tracker = new UtteranceTracker(this.trackerSettings());
    this.segmenter = new Segmenter(this.segmenterSettings());
    this.vad = ctx.newVad();
  }

  get partials(): boolean {
    return this.partialsOn;
  }

  set partials(on: boolean) {
    if (on === this.partialsOn) return;
    this.partialsOn = on;
    if (this.current) this.current.partials = this.partialHooks(this.current);
  }

  get bufferedSamples(): number {
    return this.ctx.log.end - (this.current?.from ?? this.ctx.log.end);
  }

  get heldSamples(): number {
    return this.ctx.log.end - this.ctx.log.start;
  }

  get heard(): boolean {
    return this.ctx.log.end > 0;
  }

  push(pcm: Float32Array, unheard = 0): void {
    const vad = this.vad;
    if (!vad) return;
    // Muted audio's windows are silence on the timeline; Silero never hears it (nor runs on it).
    if (unheard > 0) this.ctx.enqueue(async () => this.onWindows(await vad.skip(unheard)));
    if (unheard < pcm.length) this.ctx.enqueue(async () => this.onWindows(await vad.push(unheard > 0 ? pcm.subarray(unheard) : pcm)));
  }

  flush(receivedAt: number): void {
    this.endNow(receivedAt, 'flush');
  }

  /** The turn in progress is answered with what was said before; nothing is answered when none is open. */
  mute(receivedAt: number): void {
    this.endNow(receivedAt, 'mute');
  }

  /** Silence: the timeline goes on, and the VAD does not run on it (push skips it). */
  whileMuted(samples: number): Float32Array {
    return new Float32Array(samples);
  }

  /** Ends the utterance in progress at the audio received so far (a flush answers an empty one when none is open). */
  private endNow(receivedAt: number, endedBy: 'flush' | 'mute'): void {
    const upTo = this.ctx.log.end;
    this.ctx.enqueue(async () => {
      const actions = this.segmenter.finish(upTo);
      for (const a of actions) this.act(a, receivedAt, endedBy);
      if (endedBy === 'flush' && !actions.some((a) => a.type === 'end')) this.finishEmpty(receivedAt);
      this.tracker.interrupt();
    });
  }

  /** The open utterance's seq is answered, empty, with `dropped: "reset"`. */
  reset(): void {
    const open = this.current;
    if (!open) return;
    this.cancel();
    this.tracker.interrupt();
    this.segmenter.finish(this.ctx.log.end);
    const at = ms(this.ctx.log.end);
    this.ctx.finals.add(
      open.seq,
      async () => ({ ...this.emptyFinal(open.seq, performance.now()), dropped: 'reset' as const }),
      (answer) => this.turnEnded(open.seq, at, answer),
    );
  }

  restart(): void {
    this.ctx.newStretch(false);
    this.vad = this.ctx.newVad();
  }

  configure(): void {
    const settings = this.ctx.settings();
    this.endOfTurn.configure(settings);
    this.tracker.settings = this.trackerSettings();
    this.segmenter.settings = this.segmenterSettings();
  }

  private trackerSettings() {
    const t = this.ctx.settings();
    return { threshold: t.threshold, negThreshold: releaseFor(t.threshold), minSpeechMs: t.minSpeechMs, hangoverMs: this.endOfTurn.silenceMs, frameHoldMs: DEFAULT_TRACKER.frameHoldMs };
  }

  private segmenterSettings() {
    const t = this.ctx.settings();
    return { preRoll: samplesOf(t.preRollMs), maxLength: samplesOf(t.maxUtteranceMs), hangover: 0 };
  }

  /** The tracker waits out the silence the policy says now. */
  private applyEndOfTurn(): void {
    this.tracker.settings.hangoverMs = this.endOfTurn.silenceMs;
  }

  /**
   * Interim text for `u` while it runs, each decode passed through the utterance's own
   * LocalAgreement-2, so `stable` only grows within a seq. Nothing is sent once it has ended:
   * the utterance stops calling back when its final is asked for.
   */
  protected override partialHooks(u: Utterance): Utterance['partials'] {
    if (!this.partialsOn) return undefined;
    const agreement = new LocalAgreement();
    let last: PartialMessage | undefined;
    return {
      intervalSamples: samplesOf(this.ctx.settings().partialIntervalMs),
      onText: (t) => {
        if (!t.text.trim() || this.current !== u || this.ctx.assistant.echoes(t.text, u.from, this.ctx.log.end)) return;
        this.heardWords(u.seq, t.text);
        const { stable, text } = agreement.push(t.text);
        if (last && last.stable === stable && last.text === text) return;
        last = { type: 'partial', seq: u.seq, text, stable, language: t.language, audio_ms: t.audio_ms, inference_ms: t.inference_ms };
        this.ctx.emit(last);
      },
    };
  }

  private onWindows(probabilities: number[]): void {
    for (const p of probabilities) this.onWindow(p);
    // Nothing reaches further back than a pre-roll before a start confirmed after min_speech_ms.
    const t = this.ctx.settings();
    const keep = this.current?.from ?? this.windows.end * WINDOW - samplesOf(t.preRollMs + t.minSpeechMs + 1000);
    this.ctx.log.trimBefore(keep);
    this.windows.trimBefore(Math.floor(keep / WINDOW));
    // Listened this far with nothing open: a client may forget its copy of what lies well before.
    const at = this.windows.end * WINDOW;
    if (this.ctx.heard() && !this.current && !this.tracker.inSpeech && at - this.heardAt >= HEARD_EVERY) {
      this.heardAt = at;
      this.ctx.emit({ type: 'heard', at_ms: ms(at) });
    }
  }

  private onWindow(p: number): void {
    const w = this.windows.end;
    this.windows.push(p);
    this.current?.probs.push(p);
    const event = this.tracker.push(p);
    if (this.tracker.silenceMs === 0) {
      this.early = undefined;
      this.endOfTurn.speech();
      this.applyEndOfTurn();
      // Speech again, not the window that ends the utterance (where silenceMs is 0 too).
      if (this.tracker.inSpeech && this.eager !== undefined && this.eager === this.current?.seq) {
        this.eager = undefined;
        this.turn({ event: 'resumed', seq: this.current.seq, at_ms: ms(w * WINDOW) });
      }
    }
    const to = (w + 1) * WINDOW;
    const actions = this.segmenter.update({
      to,
      start: event?.type === 'speech_start' ? samplesOf(event.offset_ms) : undefined,
      end: event?.type === 'speech_end' ? samplesOf(event.offset_ms) : undefined,
    });
    for (const a of actions) this.act(a, performance.now(), 'silence');
    this.eagerEnd();
    if (this.current && this.tracker.inSpeech) this.current.step(this.ctx.log, to, this.tracker.silenceMs, this.ctx.settings());
  }

  private act(a: SegmentAction, at: number, endedBy: 'silence' | 'flush' | 'mute'): void {
    if (a.type === 'start') {
      const u = this.open(a.from);
      u.probs.push(...this.windows.slice(Math.floor(a.from / WINDOW)));
      this.current = u;
      this.ctx.emit({ type: 'speech_start', seq: u.seq, start_ms: ms(a.at) });
      this.turn({ event: 'start', seq: u.seq, at_ms: ms(a.at) });
      const interrupts = this.ctx.assistant.interrupts(a.at);
      if (interrupts === 'now') this.ctx.emit({ type: 'interruption', seq: u.seq, at_ms: ms(this.windows.end * WINDOW), start_ms: ms(a.at) });
      if (interrupts === 'on_text') this.interruptOnText.set(u.seq, ms(a.at));
    } else if (a.type === 'end' && this.current) {
      const u = this.current;
      this.current = undefined;
      const log = this.ctx.log;
      const upTo = a.reason === 'finish' ? log.end : Math.min(log.end, this.windows.end * WINDOW);
      const reason: EndedBy = a.reason === 'max_length' ? 'max_length' : endedBy;
      this.ctx.emit({ type: 'speech_end', seq: u.seq, end_ms: ms(a.end), decided_ms: ms(upTo) });
      this.finish(u, upTo, at, (message) => {
        this.onTimeline(message, u.from);
        message.start_ms = ms(a.start);
        message.end_ms = ms(a.end);
        message.ended_by = reason;
      }, (answer) => this.turnEnded(u.seq, ms(a.end), answer));
    }
  }

  protected override heardWords(seq: number, text: string): void {
    const startMs = this.interruptOnText.get(seq);
    if (startMs === undefined || !text.trim()) return;
    this.interruptOnText.delete(seq);
    this.ctx.emit({ type: 'interruption', seq, at_ms: ms(this.ctx.log.end), start_ms: startMs });
  }

  private turn(event: Omit<TurnEvent, 'type'>): void {
    if (this.turnEvents) this.ctx.emit({ type: 'turn', ...event });
  }

  /** After the seq's answer: its turn is over, with the answer's text (or what became of it). */
  private turnEnded(seq: number, atMs: number, answer: TranscriptMessage | ErrorMessage): void {
    if (this.eager === seq) this.eager = undefined;
    this.interruptOnText.delete(seq);
    if (answer.type === 'error') return this.turn({ event: 'end', seq, at_ms: atMs, text: '', error: answer.code });
    this.turn({ event: 'end', seq, at_ms: atMs, text: answer.text, language: answer.language, ended_by: answer.ended_by, ...(answer.dropped ? { dropped: answer.dropped } : {}) });
  }

  private finishEmpty(receivedAt: number): void {
    const seq = ++this.seq;
    this.ctx.finals.add(seq, async () => ({ ...this.emptyFinal(seq, receivedAt), ended_by: 'flush' as const }));
  }

  /** Segment, word and decoded times on the connection's timeline, like every other offset there. */
  private onTimeline(message: TranscriptMessage, from: number): void {
    const base = ms(from);
    message.segments = shiftSegments(message.segments, base);
    if (message.decoded_ms) message.decoded_ms = [message.decoded_ms[0] + base, message.decoded_ms[1] + base];
  }

  protected override placeEarly(message: TranscriptMessage, u: Utterance): void {
    this.onTimeline(message, u.from);
  }

  /**
   * Early text; and while the pause it was taken in lasts, the end-of-turn policy hears what it
   * said and, once the pause has lasted `eager_end_ms`, listeners get the eager end (a decode that
   * heard words only: nothing to prepare else).
   */
  protected override onSpeculative(u: Utterance, t: Transcript): void {
    super.onSpeculative(u, t);
    if (this.current !== u || this.tracker.silenceMs === 0) return;
    this.endOfTurn.speculated(t.text);
    this.applyEndOfTurn();
    if (t.text.trim() && this.eager !== u.seq) {
      this.early = { seq: u.seq, text: t.text, language: t.language };
      this.eagerEnd();
    }
  }

  /**
   * The eager end, once both exist: the pause's early text, and a pause of `eager_end_ms`. The
   * short pauses inside a sentence then end in no eager end (and no `resumed`) however fast the
   * decode; the early text itself (`final:false`) still goes out at once.
   */
  private eagerEnd(): void {
    const early = this.early;
    if (!early || this.current?.seq !== early.seq || this.tracker.silenceMs < this.ctx.settings().eagerEndMs) return;
    this.early = undefined;
    this.eager = early.seq;
    this.turn({ event: 'eager_end', seq: early.seq, at_ms: ms(this.windows.end * WINDOW), text: early.text, language: early.language });
  }
}
