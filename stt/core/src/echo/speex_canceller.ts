import type { EchoCanceller, EchoOptions } from './index.js';
import { ReferenceClock } from './reference_clock.js';
import { ResidualGate } from './residual_gate.js';
import {
  loadSpeexDsp,
  SPEEX_ECHO_SET_SAMPLING_RATE,
  SPEEX_PREPROCESS_SET_AGC,
  SPEEX_PREPROCESS_SET_DENOISE,
  SPEEX_PREPROCESS_SET_DEREVERB,
  SPEEX_PREPROCESS_SET_ECHO_STATE,
  SPEEX_PREPROCESS_SET_ECHO_SUPPRESS,
  SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE,
  SPEEX_PREPROCESS_SET_NOISE_SUPPRESS,
  type SpeexDsp,
} from './speexdsp.js';

const RATE = 16000;

export const DEFAULT_ECHO_OPTIONS: Required<Omit<EchoOptions, 'library'>> = {
  frameSamples: 160,
  filterMs: 200,
  echoSuppressDb: -60,
  echoSuppressActiveDb: -15,
  noiseSuppressDb: -3,
  gate: true,
  gateTailMs: 300,
  gateMarginDb: 6,
  gateEchoMarginDb: 3,
  gateFloorDb: -40,
  maxReferenceAheadMs: 20_000,
};

/** Whether libspeexdsp loads on this host (echo cancellation is possible). */
export function echoCancellerAvailable(library?: string): boolean {
  return !(loadSpeexDsp(library) instanceof Error);
}

/** A speexdsp echo canceller for one microphone stream; throws naming libspeexdsp1 where it is missing. */
export function createEchoCanceller(options: EchoOptions = {}): EchoCanceller {
  const dsp = loadSpeexDsp(options.library);
  if (dsp instanceof Error) throw dsp;
  return new SpeexEchoCanceller(dsp, { ...DEFAULT_ECHO_OPTIONS, ...definedOnly(options) });
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

class SpeexEchoCanceller implements EchoCanceller {
  private readonly frame: number;
  private readonly clock: ReferenceClock;
  private echo: bigint | undefined;
  private pre: bigint | undefined;
  /** Mic samples received (the mic clock) and those already returned as cleaned frames. */
  private micPos = 0;
  private donePos = 0;
  /** Less than one frame of mic audio waiting for the rest of its frame. */
  private held: Float32Array;
  private heldLength = 0;
  /**
   * After the speaker has been silent this long, the filter has nothing left to cancel: frames
   * pass through untouched and no native call is made, so a session whose VTuber is quiet costs
   * nothing. The filter keeps what it learned for the next line.
   */
  private readonly idleAfter: number;
  private idle = true;
  private readonly flushFrames: number;
  private readonly micFrame: Int16Array;
  private readonly refFrame: Int16Array;
  private readonly outFrame: Int16Array;
  private readonly gate: ResidualGate | undefined;

  constructor(
    private readonly dsp: SpeexDsp,
    options: Required<Omit<EchoOptions, 'library'>>,
  ) {
    this.frame = options.frameSamples;
    if (!Number.isInteger(this.frame) || this.frame < 64 || this.frame > 1024) throw new RangeError(`frameSamples must be an integer in 64..1024 (got ${this.frame})`);
    const filterLength = Math.round((options.filterMs / 1000) * RATE);
    if (!(filterLength >= this.frame && filterLength <= RATE)) throw new RangeError(`filterMs must cover one frame and at most 1000 ms (got ${options.filterMs})`);
    this.clock = new ReferenceClock(Math.max(this.frame, Math.round((options.maxReferenceAheadMs / 1000) * RATE)) + this.frame);
    // Idle only once the echo tail the gate still expects has passed too.
    this.idleAfter = Math.max(filterLength, Math.round((options.gateTailMs / 1000) * RATE)) + 2 * this.frame;
    this.flushFrames = Math.ceil(filterLength / this.frame) + 1;
    this.held = new Float32Array(this.frame);
    this.micFrame = new Int16Array(this.frame);
    this.refFrame = new Int16Array(this.frame);
    this.outFrame = new Int16Array(this.frame);
    this.gate = options.gate
      ? new ResidualGate({ tailFrames: Math.max(1, Math.round(((options.gateTailMs / 1000) * RATE) / this.frame)), marginDb: options.gateMarginDb, echoMarginDb: options.gateEchoMarginDb, floorDb: options.gateFloorDb })
      : undefined;

    this.echo = dsp.echoInit(this.frame, filterLength);
    this.pre = dsp.preprocessInit(this.frame, RATE);
    if (!this.echo || !this.pre) {
      this.close();
      throw new Error('speexdsp could not allocate an echo canceller');
    }
    const int = (v: number) => Int32Array.of(Math.round(v));
    dsp.echoCtl(this.echo, SPEEX_ECHO_SET_SAMPLING_RATE, int(RATE));
    // The preprocessor removes what the linear filter leaves (reverb tails, non-linear speaker
    // distortion). speexdsp applies that residual suppression only with denoising on; noise
    // suppression itself is kept light so the streamer's voice reaches Silero nearly intact.
    dsp.preprocessCtlPointer(this.pre, SPEEX_PREPROCESS_SET_ECHO_STATE, this.echo);
    dsp.preprocessCtl(this.pre, SPEEX_PREPROCESS_SET_DENOISE, int(1));
    dsp.preprocessCtl(this.pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, int(options.noiseSuppressDb));
    dsp.preprocessCtl(this.pre, SPEEX_PREPROCESS_SET_AGC, int(0));
    dsp.preprocessCtl(this.pre, SPEEX_PREPROCESS_SET_DEREVERB, int(0));
    dsp.preprocessCtl(this.pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, int(options.echoSuppressDb));
    dsp.preprocessCtl(this.pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, int(options.echoSuppressActiveDb));
  }

  reference(pcm: Float32Array): void {
    this.assertOpen('reference');
    this.clock.write(pcm, this.micPos);
  }

  process(mic: Float32Array): Float32Array {
    this.assertOpen('process');
    this.micPos += mic.length;
    const total = this.heldLength + mic.length;
    const frames = Math.floor(total / this.frame);
    const out = new Float32Array(frames * this.frame);
    let taken = 0;
    for (let f = 0; f < frames; f++) {
      // A frame is the held samples topped up from this chunk, then whole frames of the chunk.
      const need = this.frame - this.heldLength;
      this.held.set(mic.subarray(taken, taken + need), this.heldLength);
      taken += need;
      this.heldLength = 0;
      this.cancelFrame(this.held, out.subarray(f * this.frame, (f + 1) * this.frame));
    }
    this.held.set(mic.subarray(taken), this.heldLength);
    this.heldLength += mic.length - taken;
    return out;
  }

  drain(): Float32Array {
    this.assertOpen('drain');
    if (this.heldLength === 0) return new Float32Array(0);
    // Pad the partial frame with silence, clean it, and return only the real samples.
    const length = this.heldLength;
    this.held.fill(0, length);
    const out = new Float32Array(this.frame);
    this.heldLength = 0;
    // Only the real samples advance the clock: the next chunk continues right after them.
    this.cancelFrame(this.held, out, length);
    return out.slice(0, length);
  }

  close(): void {
    if (this.echo !== undefined) this.dsp.echoDestroy(this.echo);
    if (this.pre !== undefined) this.dsp.preprocessDestroy(this.pre);
    this.echo = undefined;
    this.pre = undefined;
  }

  /** Clean one frame at the mic clock's `donePos`, advancing it by `advance` samples. */
  private cancelFrame(mic: Float32Array, out: Float32Array, advance = this.frame): void {
    const pos = this.donePos;
    this.donePos += advance;
    this.clock.read(pos, this.refFrame, advance);
    if (this.clock.silentFor(pos) > this.idleAfter) {
      out.set(mic);
      this.idle = true;
      return;
    }
    if (this.idle) this.resume();
    this.idle = false;
    for (let i = 0; i < this.frame; i++) {
      const s = mic[i]!;
      this.micFrame[i] = s >= 1 ? 32767 : s <= -1 ? -32768 : Math.round(s * 32767);
    }
    this.dsp.echoCancellation(this.echo!, this.micFrame, this.refFrame, this.outFrame);
    this.dsp.preprocessRun(this.pre!, this.outFrame);
    this.gate?.apply(this.outFrame, this.micFrame, this.refFrame);
    for (let i = 0; i < this.frame; i++) out[i] = this.outFrame[i]! / 32767;
  }

  /**
   * Back from idle: speexdsp still holds the reference from before the pause, and would
   * subtract its "echo" from the silence that followed (a loud burst). Silent frames over the
   * filter's length clear that history without unlearning the room (no reference, no adaptation).
   */
  private resume(): void {
    const silence = new Int16Array(this.frame);
    for (let i = 0; i < this.flushFrames; i++) {
      this.dsp.echoCancellation(this.echo!, silence, silence, this.outFrame);
      this.dsp.preprocessRun(this.pre!, this.outFrame);
    }
    this.gate?.restart();
  }

  private assertOpen(what: string): void {
    if (this.echo === undefined) throw new Error(`echo canceller: ${what}() after close()`);
  }
}
