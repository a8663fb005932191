import { AbortedError, QueueFullError, type JobHandle } from '../engine/queue.js';
import type { EngineOutput } from '../engine/types.js';
import type { Metrics } from '../metrics.js';
import { samePlan, type DecodePlan, type RequestOptions, type ScheduledDecode, type Transcript, type Transcriber } from '../decode/transcriber.js';
import { WINDOW_MS } from '../vad/utterance_tracker.js';
import type { AudioLog } from './audio_log.js';
import type { SessionLanguage } from './session_language.js';
import type { TurnSettings } from './settings.js';

export type SpeculativeOutcome = 'hit' | 'miss' | 'none';

/**
 * Partials take at most a third of the engine's time: the speech must also grow by three times
 * the last partial decode's length. That leaves the engine to other connections, and bounds the
 * chance that a partial is still running when the speaker stops (its remaining run then delays
 * the speculative decode) when decodes are slow (one thread, long utterances).
 */
const PARTIAL_DUTY = 3;

interface Speculation extends ScheduledDecode {
  /** Replaced or missed: its result, if it ran, is wasted work. */
  dropped: boolean;
  /** Engine time once it finished. */
  inferenceMs?: number;
  /** A partial decode taken over as the speculation: its text already went out as a partial. */
  partial?: boolean;
}

/** Live partials of one utterance (server turns, opt-in). */
export interface PartialHooks {
  /** Growth of the speech span (samples) between two partial decodes. */
  intervalSamples: number;
  /** A decode of the utterance so far is ready (a partial decode, or the speculative decode). */
  onText: (t: Transcript) => void;
}

/**
 * One utterance being heard: where its audio starts on the connection's clock, its speech
 * probabilities, the speculative decode started at a pause, and its language when it is
 * identified early. A speculative decode is only ever used when its engine input equals the
 * final's, so using it never changes the text.
 *
 * With partials on, it also re-decodes itself while the speech goes on, at background priority
 * and only when the engine is idle. whisper.cpp cannot be interrupted, so a partial started just
 * before the speaker stops would hold up the speculative decode (and so the final) by up to its
 * whole run: none is started once the speech probability falls (the fade that precedes the end of
 * a turn), and a partial whose engine input turns out to equal the final's serves as its
 * speculative decode.
 */
export class Utterance {
  readonly probs: number[] = [];
  /** Identified from its first speech (auto language only). */
  language?: string;
  closed = false;
  private spec?: Speculation;
  private speechWindows = 0;
  private counted = 0;
  private lang?: { job: JobHandle<EngineOutput>; language: Promise<string | undefined> };
  /** The language check has answered (with or without a language). */
  private langDone = false;
  /** Its language was taken from the session, not identified: remembered, or standing in for a shed check. */
  private assumed?: 'memory' | 'shed';
  /** Set by the session when the connection asked for partials. */
  partials?: PartialHooks;
  /** The last partial decode (one at a time), and where its speech span ended. */
  private partial?: Speculation;
  private partialRunning = false;
  private partialEnd = -1;
  /** Where the speech span ended when a due partial was last shed (each is counted once). */
  private partialShedEnd = -1;
  /** The plan whose speculative decode was last shed (counted once, tried again each window). */
  private shedPlan?: DecodePlan;

  constructor(
    readonly seq: number,
    /** Absolute sample where its audio begins (pre-roll included). */
    readonly from: number,
    private readonly transcriber: Transcriber,
    private readonly request: () => Required<RequestOptions>,
    private readonly signal: AbortSignal,
    private readonly onSpeculative: (t: Transcript) => void,
    private readonly metrics?: Metrics,
    /** The session's language memory (auto): skips the check while it holds. */
    private readonly session?: SessionLanguage,
  ) {}

  /** The connection's options, with the language this utterance was found to be in. */
  options(): Required<RequestOptions> {
    const o = this.request();
    return o.language === 'auto' && this.language ? { ...o, language: this.language } : o;
  }

  /**
   * After each window: identify the language once enough speech is in; after `speculateMs` of
   * silence start a speculative decode of what the final would decode if the turn ended now;
   * drop a waiting one whose input speech has since changed.
   */
  step(log: AudioLog, upTo: number, silenceMs: number, turn: TurnSettings): void {
    if (this.closed) return;
    const total = upTo - this.from;
    this.identifyLanguage(log, total, turn);
    if (silenceMs >= turn.speculateMs) this.stepSpeculation(log, upTo, total);
    else if (this.spec && !this.spec.job.started) {
      const plan = this.transcriber.plan(total, this.probs, this.options());
      if (!plan || !samePlan(plan, this.spec.plan)) this.dropSpeculation(true);
    }
    if (this.partials) this.stepPartial(log, upTo, total, silenceMs);
  }

  private stepSpeculation(log: AudioLog, upTo: number, total: number): void {
    const plan = this.transcriber.plan(total, this.probs, this.options());
    // Only once the tail has fully arrived: until then the final's input would be longer.
    if (!plan?.complete) return;
    if (this.spec && samePlan(this.spec.plan, plan)) return;
    this.dropSpeculation(true);
    const partial = this.partial;
    if (partial && !partial.dropped && samePlan(partial.plan, plan)) this.adopt({ ...partial, dropped: false, partial: true });
    else if (this.transcriber.queue.shouldShed()) {
      // Finals wait: it would be served after them, too late to end the turn early. Tried again
      // at the next window, when they may have drained.
      if (!this.shedPlan || !samePlan(this.shedPlan, plan)) this.metrics?.shed.inc({ kind: 'speculative' });
      this.shedPlan = plan;
    } else this.adopt({ ...this.transcriber.submit(log.range(this.from, upTo), plan, 'speculative', this.signal), dropped: false });
  }

  /**
   * A partial decode when nothing more urgent can be held up by it: the engine idle (no final,
   * speculation, language check or other connection's work running or waiting), the speech
   * still going on (this window sure speech, not the fade at its end) or its tail complete (then
   * the partial's input is what the final's would be), the language known, and the speech grown
   * by the interval since the last one.
   */
  private stepPartial(log: AudioLog, upTo: number, total: number, silenceMs: number): void {
    const hooks = this.partials!;
    if (this.partialRunning || !this.languageKnown) return;
    const plan = this.transcriber.plan(total, this.probs, this.options());
    if (!plan) return;
    const speaking = silenceMs === 0 && (this.probs.at(-1) ?? 0) >= this.transcriber.settings.gate.threshold;
    if (!speaking && !plan.complete) return;
    const lastMs = this.partial?.inferenceMs ?? 0;
    const growth = Math.max(hooks.intervalSamples, Math.round(((PARTIAL_DUTY * lastMs) / 1000) * 16000));
    if (plan.end - Math.max(this.partialEnd, plan.start) < growth) return;
    if (this.spec && samePlan(this.spec.plan, plan)) return;
    if (this.transcriber.queue.depth > 0) {
      // Due, but the engine has other work (first in the shedding order): counted once per interval.
      if (plan.end - Math.max(this.partialShedEnd, this.partialEnd, plan.start) >= growth) {
        this.partialShedEnd = plan.end;
        this.metrics?.shed.inc({ kind: 'partial' });
      }
      return;
    }
    this.partialEnd = plan.end;
    const decode: Speculation = { ...this.transcriber.submit(log.range(this.from, upTo), plan, 'background', this.signal), dropped: false };
    this.partial = decode;
    this.partialRunning = true;
    decode.transcript.then(
      (t) => {
        decode.inferenceMs = t.inference_ms;
        if (!this.closed && !decode.dropped && !this.switchedFrom(decode.plan.options.language, t)) this.partials?.onText(t);
      },
      () => undefined,
    ).finally(() => {
      if (this.partial === decode) this.partialRunning = false;
    });
  }

  /** Whether decodes use the utterance's own language by now (auto: once identified or given up on). */
  private get languageKnown(): boolean {
    return this.request().language !== 'auto' || !this.transcriber.engine.info.detectsLanguage || this.language !== undefined || this.langDone;
  }

  /** The final decode of [from, upTo): the speculative result when its input is the same. */
  async final(log: AudioLog, upTo: number): Promise<{ transcript: Transcript; speculative: SpeculativeOutcome } | undefined> {
    this.closed = true;
    // Copied before anything is awaited: the caller may drop older audio once this returns.
    const pcm = log.range(this.from, upTo);
    // Its place among the finals is taken now: finals of later utterances queued while this one
    // waits for its language must not overtake it (the finals leave in seq order, so all would wait).
    const place = this.transcriber.queue.takePlace();
    // Never stepped (no VAD, or flushed at once): the session's language still saves the detection pass.
    if (!this.lang) this.assumeRemembered();
    const result = await this.decodeFinal(pcm, place);
    if (!result || !this.session || this.request().language !== 'auto') return result;
    const t = result.transcript;
    if (!this.assumed) {
      if (t.language !== 'auto') this.session.identified(t.language, t.text);
      return result;
    }
    const kept = this.session.confirms(t.language, t.text);
    this.countMemory(kept ? 'kept' : 'switched');
    if (kept) return result;
    // Decoded in the session's language, its text is in another script: the speaker switched.
    // Decoded again in auto, at the same place among the finals, so it gets its own language.
    const plan = this.transcriber.plan(pcm.length, this.probs, { ...this.request(), language: 'auto' });
    if (!plan) return result;
    const again = await this.transcriber.submit(pcm, plan, 'final', this.signal, place).transcript;
    if (again.language !== 'auto') {
      this.session.identified(again.language, again.text);
      this.language = again.language;
    }
    return { transcript: { ...again, inference_ms: again.inference_ms + t.inference_ms }, speculative: result.speculative };
  }

  private async decodeFinal(pcm: Float32Array, place: number): Promise<{ transcript: Transcript; speculative: SpeculativeOutcome } | undefined> {
    if (this.lang) {
      // A check already on the engine is nearly done and saves the final a second encoder pass;
      // one still waiting is not worth waiting for.
      if (this.lang.job.started) await this.lang.language;
      else this.lang.job.cancel();
    }
    const plan = this.transcriber.plan(pcm.length, this.probs, this.options());
    if (!plan) {
      this.dropSpeculation();
      return undefined;
    }
    const partial = this.partial;
    if (partial && !partial.dropped && samePlan(partial.plan, plan) && !(this.spec && samePlan(this.spec.plan, plan))) {
      // The last partial decoded exactly the final's input: it is the speculative decode.
      this.dropSpeculation();
      this.adopt({ ...partial, dropped: false, partial: true });
    }
    const spec = this.spec;
    let outcome: SpeculativeOutcome = 'none';
    if (spec) {
      if (samePlan(spec.plan, plan) || (await this.sameAsAuto(spec, plan))) {
        const served = await this.asFinal(spec);
        if (served) {
          this.metrics?.speculative.inc({ outcome: 'hit' });
          // The same engine input, with the audio the utterance ended with.
          return { transcript: { ...served, audio_ms: Math.round((pcm.length / 16000) * 1000) }, speculative: 'hit' };
        }
      } else {
        this.metrics?.speculative.inc({ outcome: 'miss' });
        outcome = 'miss';
      }
      this.dropSpeculation();
    }
    // Scheduled as a final: past the finals' bound its answer is its own `overloaded`.
    const decode = this.transcriber.submit(pcm, plan, 'final', this.signal, place);
    return { transcript: await decode.transcript, speculative: outcome };
  }

  /**
   * The speculative decode's transcript as the final's, when it can serve: promoted to a final
   * within the finals' bound, or already on the engine. Undefined when it was refused or shed, or
   * the finals' class is full: a speculation's own refusal is never the final's answer, the final
   * then decodes on its own.
   */
  private async asFinal(spec: Speculation): Promise<Transcript | undefined> {
    if (!spec.job.promote('final')) return undefined;
    try {
      return await spec.transcript;
    } catch (error) {
      // A later window of a long one refused or dropped; the session's own abort stands.
      if (this.signal.aborted || !(error instanceof QueueFullError || error instanceof AbortedError)) throw error;
      return undefined;
    }
  }

  /** The utterance was discarded: nothing it queued is needed any more. */
  cancel(): void {
    this.closed = true;
    this.lang?.job.cancel();
    this.partial?.job.cancel();
    this.dropSpeculation();
  }

  private identifyLanguage(log: AudioLog, total: number, turn: TurnSettings): void {
    if (this.lang || !this.needsLanguage() || this.assumeRemembered()) return;
    // Counted as windows arrive, not recounted each window.
    const gate = this.transcriber.settings.gate.threshold;
    for (; this.counted < this.probs.length; this.counted++) if (this.probs[this.counted]! >= gate) this.speechWindows++;
    if (this.speechWindows * WINDOW_MS < turn.languageAfterMs) return;
    const plan = this.transcriber.plan(total, this.probs, this.request());
    if (!plan) return;
    const last = this.session?.last;
    if (last && this.transcriber.queue.shouldShed()) {
      // Finals wait (third in the shedding order): the session's last language stands in.
      this.metrics?.shed.inc({ kind: 'language' });
      return this.assume(last, 'shed');
    }
    const lang = this.transcriber.identifyLanguage(log.range(this.from + plan.start, this.from + plan.end), this.signal);
    if (!lang) return;
    this.lang = lang;
    void lang.language.then((l) => {
      this.langDone = true;
      if (!l) return;
      this.language = l;
      this.metrics?.languageIdentified.inc({ language: l });
    });
  }

  /** In `auto`, with an engine that identifies, and not identified or assumed yet. */
  private needsLanguage(): boolean {
    return !this.langDone && this.request().language === 'auto' && this.transcriber.engine.info.detectsLanguage === true;
  }

  /** Takes the session's remembered language, if it has one and this utterance still needs one. */
  private assumeRemembered(): boolean {
    const kept = this.session?.remembered;
    if (!kept || !this.needsLanguage()) return false;
    this.assume(kept, 'memory');
    return true;
  }

  /** Decodes in the session's language without a check of its own (its final's text is checked instead). */
  private assume(language: string, from: 'memory' | 'shed'): void {
    this.language = language;
    this.langDone = true;
    this.assumed = from;
  }

  /** stt_language_memory_total counts what memory did; a shed check's stand-in is counted as shed. */
  private countMemory(outcome: 'kept' | 'switched'): void {
    if (this.assumed === 'memory') this.metrics?.languageMemory.inc({ outcome });
  }

  /**
   * A decode in the session's language came back in another script: the speaker switched. Its
   * text is not sent; the memory is dropped and the utterance goes back to auto, so its next
   * speculative decode (and so its final) identifies it, before the turn ends.
   */
  private switchedFrom(language: string, t: Transcript): boolean {
    if (!this.assumed || language !== this.language || !this.session || this.session.confirms(language, t.text)) return false;
    this.countMemory('switched');
    this.assumed = undefined;
    this.language = undefined;
    return true;
  }

  /** The speculative decode from now on: its text decides the end of turn (and is a partial too). */
  private adopt(spec: Speculation): void {
    this.spec = spec;
    spec.transcript.then(
      (t) => {
        spec.inferenceMs = t.inference_ms;
        if (spec.dropped) this.metrics?.speculativeWasted.inc(t.inference_ms / 1000);
        else if (!this.closed && !this.switchedFrom(spec.plan.options.language, t)) {
          this.onSpeculative(t);
          if (!spec.partial) this.partials?.onText(t);
        }
      },
      () => undefined,
    );
  }

  /**
   * A speculative decode in `auto` whose span and options match, when the final's language is the
   * one that decode found: whisper.cpp decodes a detected language exactly as a given one.
   */
  private async sameAsAuto(spec: Speculation, plan: DecodePlan): Promise<boolean> {
    const a = spec.plan;
    if (a.options.language !== 'auto' || plan.options.language === 'auto' || !spec.job.started) return false;
    if (!samePlan({ ...a, options: plan.options }, plan)) return false;
    const t = await spec.transcript.catch(() => undefined);
    return t?.language === plan.options.language;
  }

  /** `overtaken`: newer speech or a newer plan made it stale, so a waiting one is shed work. */
  private dropSpeculation(overtaken = false): void {
    const spec = this.spec;
    if (!spec) return;
    this.spec = undefined;
    spec.dropped = true;
    if (spec.job.cancel()) {
      this.metrics?.speculative.inc({ outcome: 'cancelled' });
      if (overtaken) this.metrics?.shed.inc({ kind: 'speculative' });
    } else if (spec.inferenceMs !== undefined) this.metrics?.speculativeWasted.inc(spec.inferenceMs / 1000);
    // A running one cannot be stopped (whisper.cpp runs to its end); its time is counted when it ends.
  }
}
