/** 32 ms: one Silero window at 16 kHz, and small enough that the speaking light feels live. */
const CHUNK_MS = 32;

export class MicError extends Error {
  constructor(
    readonly kind: 'denied' | 'missing' | 'insecure',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The microphone as float32 chunks of about 32 ms at the AudioContext's rate (an AudioWorklet
 * taps the first channel). The rate is whatever the browser runs at: the server converts.
 */
export class MicCapture {
  private ctx?: AudioContext;
  private stream?: MediaStream;

  /** Starts capturing (from `deviceId`, or the browser's default microphone); resolves with the sample rate the chunks have. */
  async start(onChunk: (chunk: Float32Array) => void, deviceId = ''): Promise<number> {
    // Browsers give pages the microphone only in a secure context (https, or localhost): opened
    // over plain http from another machine, navigator.mediaDevices is not there at all.
    if (!navigator.mediaDevices?.getUserMedia) {
      throw window.isSecureContext === false
        ? new MicError('insecure', `${location.origin} is not a secure context`)
        : new MicError('missing', 'this browser gives pages no microphone (navigator.mediaDevices)');
    }
    try {
      const audio: MediaTrackConstraints = { channelCount: 1, echoCancellation: true, noiseSuppression: true };
      if (deviceId) audio.deviceId = { exact: deviceId };
      this.stream = await navigator.mediaDevices.getUserMedia({ audio });
    } catch (error) {
      const name = (error as DOMException).name;
      throw new MicError(name === 'NotAllowedError' || name === 'SecurityError' ? 'denied' : 'missing', (error as Error).message);
    }
    this.ctx = new AudioContext({ sampleRate: 16000 });
    await this.ctx.audioWorklet.addModule('pcm-worklet.js');
    const rate = this.ctx.sampleRate;
    const chunkSamples = Math.round((rate * CHUNK_MS) / 1000);
    let pending: Float32Array[] = [];
    let pendingSamples = 0;
    const tap = new AudioWorkletNode(this.ctx, 'pcm-tap');
    tap.port.onmessage = (e: MessageEvent<Float32Array>) => {
      pending.push(e.data);
      pendingSamples += e.data.length;
      if (pendingSamples < chunkSamples) return;
      const chunk = new Float32Array(pendingSamples);
      let o = 0;
      for (const p of pending) {
        chunk.set(p, o);
        o += p.length;
      }
      pending = [];
      pendingSamples = 0;
      onChunk(chunk);
    };
    this.ctx.createMediaStreamSource(this.stream).connect(tap);
    return rate;
  }

  async stop(): Promise<void> {
    this.stream?.getTracks().forEach((track) => track.stop());
    await this.ctx?.close();
  }
}
