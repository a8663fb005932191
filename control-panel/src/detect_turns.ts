import { FinalClock, FLUSH_COMMAND, isFinalAnswer, SampleLog, Segmenter, type ConfigAck, type DetectReply, type ErrorMessage, type SegmentAction, type TranscriptMessage } from '@vtuber-stt/core/turns';
import { AudioClock } from './audio_clock.js';
import { openTurnSocket, settled, type MicEvents, type TurnFlow } from './turn_socket.js';

const PRE_ROLL_MS = 300;
const MAX_UTTERANCE_MS = 30_000;

/**
 * Client-side turns, as the founding document's client does them: every chunk to /ws/detect,
 * whose verdicts drive the Segmenter; the audio it assigns goes to /ws/transcribe and each end
 * sends `<flush>`. Positions are samples at the AudioContext's rate.
 */
export class DetectTurns implements TurnFlow {
  private readonly detect: ReturnType<typeof openTurnSocket>;
  private readonly transcribe: ReturnType<typeof openTurnSocket>;
  private readonly segmenter: Segmenter;
  /** The last seconds of microphone audio, to send an utterance from before its reported start. */
  private readonly ring: SampleLog<Float32Array>;
  private readonly clock = new FinalClock();
  /** When each position was captured: an utterance's latency runs from its speech's end as the detector placed it. */
  private readonly audio: AudioClock;
  private position = 0;
  /** Settings to apply once the transcription socket opens. */
  private pendingConfig?: string;
  /** Where the detector's offset 0 lies: the first chunk it was sent. */
  private detectBase = -1;
  /** End positions of the chunks sent to the detector, answered one reply each, in order. */
  private readonly inFlight: number[] = [];
  private flushes = 0;
  private poke?: () => void;

  constructor(
    private readonly rate: number,
    private readonly events: MicEvents,
  ) {
    const samples = (ms: number) => Math.round((ms / 1000) * rate);
    this.segmenter = new Segmenter({ preRoll: samples(PRE_ROLL_MS), maxLength: samples(MAX_UTTERANCE_MS), hangover: 0 });
    // Past the pre-roll, the detector's lag and its confirmation delay.
    this.ring = new SampleLog<Float32Array>({ keepSamples: samples(PRE_ROLL_MS + 3000) });
    const query = `?sample_rate=${rate}&encoding=f32le`;
    this.detect = openTurnSocket(`ws/detect${query}`, 'detect', events, (m) => this.onDetect(m as unknown as DetectReply));
    this.transcribe = openTurnSocket(`ws/transcribe${query}`, 'transcribe', events, (m) => this.onAnswer(m));
    this.transcribe.ws.addEventListener('open', () => {
      if (this.pendingConfig) this.transcribe.ws.send(this.pendingConfig);
      this.pendingConfig = undefined;
    });
    this.audio = new AudioClock(rate);
  }

  push(chunk: Float32Array, at: number): void {
    const start = this.position;
    this.position += chunk.length;
    this.audio.mark(start, this.position, at);
    this.ring.push(chunk);
    if (this.detect.ws.readyState === WebSocket.OPEN) {
      if (this.detectBase < 0) this.detectBase = start;
      this.inFlight.push(this.position);
      this.detect.ws.send(chunk);
    } else {
      this.apply(this.segmenter.update({ to: this.position }));
    }
  }

  configure(message: Record<string, unknown>): void {
    const text = JSON.stringify(message);
    if (this.transcribe.ws.readyState === WebSocket.OPEN) this.transcribe.ws.send(text);
    else this.pendingConfig = text;
  }

  async stop(): Promise<void> {
    this.detect.close();
    this.apply(this.segmenter.finish(this.position));
    const answered = settled(() => this.clock.waiting === 0, 5000);
    this.poke = answered.poke;
    await answered.wait;
    this.transcribe.close();
  }

  private onDetect(m: DetectReply): void {
    if (m.type !== 'detect') return;
    const to = this.inFlight.shift();
    if (to === undefined) return;
    this.events.speaking(m.speech_detected);
    const abs = (offsetMs: number | undefined) => (offsetMs === undefined ? undefined : this.detectBase + Math.round((offsetMs / 1000) * this.rate));
    this.apply(this.segmenter.update({ to, speech: m.speech_detected, start: abs(m.speech_start), end: abs(m.speech_end), withdrawn: abs(m.speech_withdrawn) }));
  }

  private apply(actions: SegmentAction[]): void {
    const ws = this.transcribe.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    for (const a of actions) {
      if (a.type === 'audio') for (const piece of this.ring.pieces(a.from, a.to)) ws.send(piece);
      else if (a.type === 'end') {
        ws.send(FLUSH_COMMAND);
        // The service numbers flushes 1, 2, 3, ... on this connection: the answer carries this seq.
        this.clock.end(++this.flushes, this.audio.at(a.end) ?? performance.now());
      } else if (a.type === 'discard') ws.send(JSON.stringify({ type: 'reset' }));
    }
  }

  /** Answers are matched to flushes by seq: an error answering one flush settles that one only. */
  private onAnswer(m: Record<string, unknown>): void {
    if (m.type === 'config') return this.events.applied(m as unknown as ConfigAck);
    if (!isFinalAnswer(m)) return;
    const seq = m.seq as number;
    const answer = m as unknown as TranscriptMessage | ErrorMessage;
    this.events.final(seq, answer, this.clock.settle(seq, performance.now()) ?? (answer.type === 'transcript' ? answer.latency_ms : 0));
    this.poke?.();
  }
}
