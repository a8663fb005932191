/**
 * What speexdsp leaves of the echo, removed by level. speexdsp's linear filter needs about a
 * second of the VTuber's voice to learn the room, and even then leaves a reverberant residue
 * 15-25 dB down, which Silero (insensitive to level) still calls speech; its own residual
 * suppressor only knows the echo its filter already models. This gate predicts the residue from
 * what the speaker played instead: the loudest recent reference frame (the echo may arrive any
 * time within the echo tail) times the residue's gain, learned as the output falls while only
 * the VTuber talks. A frame no louder than that prediction is echo and is attenuated; the
 * streamer talking over the VTuber is far louder than the residue and passes.
 */
export interface ResidualGateOptions {
  /** Frames of reference energy held: covers the speaker-to-mic delay and the reverb tail. */
  tailFrames: number;
  /** Output this much above the predicted residue (dB) counts as the streamer. */
  marginDb: number;
  /**
   * ...and it must also be no more than this far below the echo as the microphone hears it
   * (dB, learned the same way). speexdsp's residue jumps by 10-20 dB for a while when the echo
   * path moves (a reference placed a chunk earlier or later than last time) or after the
   * streamer talked over the VTuber (its filter adapts to the wrong voice); the raw echo level
   * does not move with it, so this bound holds where the residue prediction fails.
   */
  echoMarginDb: number;
  /** Attenuation applied to echo frames (dB, negative). */
  floorDb: number;
}

const TINY = 1e-10;
/** The residue's gain starts at the reference's own level: until learned, assume a loud room. */
const START_GAIN_DB = 0;
/** Learning rates per frame in the log domain: rising faster than falling tracks the residue's loud moments (word onsets), not its average. */
const RISE = 0.1;
const FALL = 0.02;
/** A rise bigger than this is the streamer talking over the VTuber, not the residue: ignored. */
const DOUBLE_TALK_DB = 10;
/** The raw echo's peak is forgotten this fast per frame (1 dB/s): a room changes slowly. */
const PEAK_DECAY_DB = 0.01;
/** Reference frames quieter than this carry no echo worth learning from. */
const SILENT_REFERENCE = 1e-7; // -70 dBFS

export class ResidualGate {
  private readonly energies: Float64Array;
  private next = 0;
  /** Residue and raw echo level relative to the held reference, learned (dB). */
  private gainDb = START_GAIN_DB;
  private rawGainDb = START_GAIN_DB;
  /** The loudest the raw echo has been relative to the reference, slowly forgotten (dB; none heard yet). */
  private rawPeakDb = -Infinity;
  private applied = 1;
  /** Frames since the speaker started again after a silence; counts up to the tail. */
  private sinceOnset = 0;
  private readonly margin: number;
  private readonly echoMargin: number;
  private readonly floor: number;

  constructor(options: ResidualGateOptions) {
    this.energies = new Float64Array(options.tailFrames);
    this.margin = 10 ** (options.marginDb / 10);
    this.echoMargin = 10 ** (-options.echoMarginDb / 10);
    this.floor = 10 ** (options.floorDb / 20);
  }

  /** The canceller skipped frames (the speaker was silent): what was held has long passed. */
  restart(): void {
    this.energies.fill(0);
    this.sinceOnset = 0;
    this.applied = 1;
  }

  /**
   * Attenuate `frame` (the canceller's output, int16 units) in place; `mic` is its input and
   * `reference` what played at its position.
   */
  apply(frame: Int16Array, mic: Int16Array, reference: Int16Array): void {
    this.energies[this.next] = meanSquare(reference);
    this.next = (this.next + 1) % this.energies.length;
    let held = 0;
    for (const e of this.energies) if (e > held) held = e;
    const out = meanSquare(frame);
    let target = 1;
    if (held <= SILENT_REFERENCE) this.sinceOnset = 0;
    else this.sinceOnset = Math.min(this.sinceOnset + 1, this.energies.length);
    if (held > SILENT_REFERENCE) {
      // The first echo of a line meets a filter that may be aligned to the last line's timing
      // (a client's reference lands up to one chunk earlier or later each time): until it has
      // passed, only audio clearly louder than the loudest echo heard is the streamer.
      const onset = this.sinceOnset < this.energies.length;
      const residue = held * 10 ** (this.gainDb / 10);
      const echo = held * 10 ** ((onset ? this.rawPeakDb : this.rawGainDb) / 10);
      const micEnergy = meanSquare(mic);
      const rawDb = 10 * Math.log10((micEnergy + TINY) / held);
      this.gainDb = learn(this.gainDb, out, held);
      this.rawPeakDb = rawDb > this.rawPeakDb && rawDb - this.rawGainDb < DOUBLE_TALK_DB ? rawDb : this.rawPeakDb - PEAK_DECAY_DB;
      this.rawGainDb = learn(this.rawGainDb, micEnergy, held);
      target = out > this.margin * residue && out > (onset ? this.margin : this.echoMargin) * echo ? 1 : this.floor;
    }
    // Ramp across the frame from the last gain: a step would click, and clicks look like onsets.
    const from = this.applied;
    // Close at once (echo must not leak), open over two frames (a word's onset survives either way).
    const to = target < from ? target : from + (target - from) * 0.5;
    for (let i = 0; i < frame.length; i++) frame[i] = Math.round(frame[i]! * (from + ((to - from) * (i + 1)) / frame.length));
    this.applied = to;
  }
}

/** One step of tracking a level ratio's loud moments in dB; a jump up of DOUBLE_TALK_DB or more is not the echo. */
function learn(gainDb: number, energy: number, held: number): number {
  const step = 10 * Math.log10((energy + TINY) / held) - gainDb;
  if (step < 0) return gainDb + FALL * step;
  if (step < DOUBLE_TALK_DB) return gainDb + RISE * step;
  return gainDb;
}

function meanSquare(frame: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) {
    const s = frame[i]! / 32768;
    sum += s * s;
  }
  return sum / frame.length;
}
