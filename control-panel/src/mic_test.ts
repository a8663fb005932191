import type { DetectReply, TranscriptMessage } from '@vtuber-stt/core';
import { wsUrl } from './api.js';

export interface MicEvents {
  speaking(on: boolean): void;
  transcript(message: TranscriptMessage, latencyMs: number): void;
  error(kind: 'denied' | 'missing' | 'lost' | 'server', detail: string): void;
}

const PRE_ROLL_MS = 300;
const CHUNK_MS = 32;

/**
 * The browser side of the founding document's client: microphone -> AudioWorklet -> float32
 * chunks to /ws/detect; from a speech_start (with a 300 ms pre-roll) to its speech_end the same
 * audio goes to /ws/transcribe, then `<flush>`. The sample rate is whatever the AudioContext
 * runs at, declared in the query string: the server converts.
 */
export class MicTest {
  private ctx?: AudioContext;
  private stream?: MediaStream;
  private detect?: WebSocket;
  private transcribe?: WebSocket;
  private pending: Float32Array[] = [];
  private pendingSamples = 0;
  private preRoll: Float32Array[] = [];
  private inUtterance = false;
  private readonly flushTimes: number[] = [];
  private stopping = false;

  constructor(private readonly events: MicEvents) {}

  async start(): Promise<void> {
    this.stopping = false;
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
    } catch (error) {
      const name = (error as DOMException).name;
      this.events.error(name === 'NotAllowedError' || name === 'SecurityError' ? 'denied' : 'missing', (error as Error).message);
      throw error;
    }
    this.ctx = new AudioContext({ sampleRate: 16000 });
    await this.ctx.audioWorklet.addModule('pcm-worklet.js');
    const rate = this.ctx.sampleRate;
    const query = `?sample_rate=${rate}&encoding=f32le`;
    this.detect = this.open(`ws/detect${query}`, 'detect', (m) => this.onDetect(m as DetectReply));
    this.transcribe = this.open(`ws/transcribe${query}`, 'transcribe', (m) => this.onTranscript(m as TranscriptMessage));
    const source = this.ctx.createMediaStreamSource(this.stream);
    const tap = new AudioWorkletNode(this.ctx, 'pcm-tap');
    const chunkSamples = Math.round((rate * CHUNK_MS) / 1000);
    tap.port.onmessage = (e: MessageEvent<Float32Array>) => {
      this.pending.push(e.data);
      this.pendingSamples += e.data.length;
      if (this.pendingSamples >= chunkSamples) this.emit();
    };
    source.connect(tap);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.inUtterance && this.transcribe?.readyState === WebSocket.OPEN) this.flush();
    this.stream?.getTracks().forEach((tr) => tr.stop());
    await this.ctx?.close();
    this.detect?.close();
    // Let the last transcript arrive before closing.
    setTimeout(() => this.transcribe?.close(), this.flushTimes.length > 0 ? 5000 : 0);
    this.events.speaking(false);
  }

  private open(path: string, name: string, onMessage: (m: unknown) => void): WebSocket {
    const ws = new WebSocket(wsUrl(path));
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data as string) as Record<string, unknown>;
      if (m.type === 'error') this.events.error('server', String(m.error));
      else onMessage(m);
    };
    ws.onclose = (e) => {
      if (!this.stopping) this.events.error('lost', `${name}: ${e.reason || `code ${e.code}`}`);
    };
    return ws;
  }

  private emit(): void {
    const chunk = new Float32Array(this.pendingSamples);
    let o = 0;
    for (const p of this.pending) {
      chunk.set(p, o);
      o += p.length;
    }
    this.pending = [];
    this.pendingSamples = 0;
    if (this.detect?.readyState === WebSocket.OPEN) this.detect.send(chunk.buffer);
    if (this.inUtterance) this.sendAudio(chunk);
    else {
      this.preRoll.push(chunk);
      const keep = Math.ceil(PRE_ROLL_MS / CHUNK_MS) + 8; // the start is announced a little after it happened
      if (this.preRoll.length > keep) this.preRoll.shift();
    }
  }

  private sendAudio(chunk: Float32Array): void {
    if (this.transcribe?.readyState === WebSocket.OPEN) this.transcribe.send(chunk.buffer);
  }

  private onDetect(m: DetectReply): void {
    if (m.type !== 'detect') return;
    this.events.speaking(m.speech_detected);
    if (m.speech_start !== undefined && !this.inUtterance) {
      this.inUtterance = true;
      for (const c of this.preRoll.splice(0)) this.sendAudio(c);
    }
    if (m.speech_withdrawn !== undefined && this.inUtterance) {
      this.inUtterance = false;
      this.transcribe?.send(JSON.stringify({ type: 'reset' }));
    }
    if (m.speech_end !== undefined && this.inUtterance) {
      this.inUtterance = false;
      this.flush();
    }
  }

  private flush(): void {
    this.flushTimes.push(performance.now());
    this.transcribe?.send('<flush>');
  }

  private onTranscript(m: TranscriptMessage): void {
    if (m.type !== 'transcript') return;
    const sent = this.flushTimes.shift();
    this.events.transcript(m, sent === undefined ? m.latency_ms : Math.round(performance.now() - sent));
  }
}
