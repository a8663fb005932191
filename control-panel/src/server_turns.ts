import { FinalClock, FLUSH_COMMAND, isFinalAnswer, type ConfigAck, type ErrorMessage, type PartialMessage, type TranscriptMessage } from '@vtuber-stt/core/turns';
import { AudioClock } from './audio_clock.js';
import { openTurnSocket, settled, type MicEvents, type TurnFlow } from './turn_socket.js';

/** Audio held while the socket opens (then sent): the first words are not lost to the handshake. */
const MAX_BACKLOG_SAMPLES = 16000 * 5;

/**
 * Server-side turns: all audio on one `/ws/transcribe?turns=server&early=1&partials=1` socket
 * (`&session=` when named); the service says when speech starts and ends, sends live partial
 * text while it runs, the speculative text early and the final after.
 */
export class ServerTurns implements TurnFlow {
  private readonly socket: ReturnType<typeof openTurnSocket>;
  /** Ends of speech as captured (from speech_end's end_ms on the audio clock), settled by finals. */
  private readonly clock = new FinalClock();
  private readonly audio: AudioClock;
  /** Samples accepted for the connection (sent, or held to send on open): its audio timeline. */
  private sent = 0;
  private backlog: (Float32Array | string)[] = [];
  private backlogSamples = 0;
  private lastStarted = 0;
  private lastFinal = 0;
  private poke?: () => void;

  constructor(
    rate: number,
    private readonly events: MicEvents,
    session = '',
  ) {
    this.audio = new AudioClock(rate);
    const named = session ? `&session=${encodeURIComponent(session)}` : '';
    this.socket = openTurnSocket(`ws/transcribe?turns=server&early=1&partials=1&sample_rate=${rate}&encoding=f32le${named}`, 'transcribe', events, (m) => this.onMessage(m));
    this.socket.ws.addEventListener('open', () => {
      for (const item of this.backlog.splice(0)) this.socket.ws.send(item);
      this.backlogSamples = 0;
    });
  }

  push(chunk: Float32Array, at: number): void {
    const { ws } = this.socket;
    if (ws.readyState === WebSocket.OPEN) ws.send(chunk);
    else if (ws.readyState === WebSocket.CONNECTING && this.backlogSamples + chunk.length <= MAX_BACKLOG_SAMPLES) {
      this.backlog.push(chunk);
      this.backlogSamples += chunk.length;
    } else return;
    this.audio.mark(this.sent, this.sent + chunk.length, at);
    this.sent += chunk.length;
  }

  configure(message: Record<string, unknown>): void {
    const { ws } = this.socket;
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
    else if (ws.readyState === WebSocket.CONNECTING) this.backlog.push(JSON.stringify(message));
  }

  async stop(): Promise<void> {
    if (this.socket.ws.readyState === WebSocket.OPEN) {
      // The flush ends the utterance in progress (its final has lastStarted's seq) or, with none,
      // is answered by an empty final with the next seq: either way the last answer owed.
      const owed = Math.max(this.lastStarted, this.lastFinal + 1);
      this.socket.ws.send(FLUSH_COMMAND);
      const answered = settled(() => this.lastFinal >= owed, 5000);
      this.poke = answered.poke;
      await answered.wait;
    }
    this.socket.close();
  }

  private onMessage(m: Record<string, unknown>): void {
    const now = performance.now();
    const seq = m.seq as number;
    if (m.type === 'speech_start') {
      this.lastStarted = seq;
      this.events.speaking(true);
    } else if (m.type === 'speech_end') {
      // Where the service heard the speech end, not when it said so: that comes only after the
      // end-of-turn silence, which the streamer waited through too.
      this.clock.end(seq, this.audio.atMs(m.end_ms as number) ?? now);
      this.events.speaking(false);
    } else if (isFinalAnswer(m)) {
      this.lastFinal = Math.max(this.lastFinal, seq);
      const answer = m as unknown as TranscriptMessage | ErrorMessage;
      this.events.final(seq, answer, this.clock.settle(seq, now) ?? (answer.type === 'transcript' ? answer.latency_ms : 0));
      this.poke?.();
    } else if (m.type === 'partial') {
      if (seq > this.lastFinal) this.events.partial(seq, m as unknown as PartialMessage);
    } else if (m.type === 'transcript') {
      this.events.early(seq, m as unknown as TranscriptMessage);
    } else if (m.type === 'config') {
      this.events.applied(m as unknown as ConfigAck);
    }
  }
}
