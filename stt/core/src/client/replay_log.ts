/**
 * Everything sent on a transcription session since its last settled point, in order, on the
 * caller's clock (ms of audio sent): what a replacement connection must be sent again so that the
 * service is where the lost one was. Settled means answered and never needed again: the audio
 * and flushes of answered utterances, and control messages the service acknowledged (whose
 * settings then live on in `settledConfig`, sent first on every new connection).
 */
export interface AudioEntry {
  kind: 'audio';
  /** Where it starts on the caller's clock, in ms. */
  at: number;
  ms: number;
  data: Buffer;
}

export interface FlushEntry {
  kind: 'flush';
  at: number;
  /** The seq it answers (flush mode), or the one it is expected to end (server mode). */
  seq: number;
  sentAt: number;
  answered: boolean;
}

export interface ControlEntry {
  kind: 'control';
  at: number;
  text: string;
  /** The message, when it is JSON. */
  message?: Record<string, unknown>;
  /** The service acknowledged it (a rejected one leaves the log at once). */
  acked: boolean;
  /** Sent by the transcriber's owner (a relay's own command), not its caller: the answer is not passed on. */
  own?: boolean;
}

export type LogEntry = AudioEntry | FlushEntry | ControlEntry;

export class ReplayLog {
  private items: LogEntry[] = [];
  /** Acknowledged config of settled control messages, merged in order. */
  settledConfig: Record<string, unknown> = {};
  /** The settled `assistant_speech` start (as sent) while no end has settled after it: the VTuber still speaks. */
  settledAssistant?: string;
  /** Where the next audio starts on the caller's clock. */
  clock = 0;
  /** Audio bytes kept. */
  bytes = 0;
  /** Flushes sent and not answered (checked on every frame, so counted rather than searched). */
  flushesWaiting = 0;

  get entries(): readonly LogEntry[] {
    return this.items;
  }

  /** Where a replay's audio begins on the caller's clock: a new connection's offset 0. */
  get origin(): number {
    const first = this.items.find((e) => e.kind === 'audio');
    return first ? first.at : this.clock;
  }

  get hasAudio(): boolean {
    return this.bytes > 0;
  }

  addAudio(data: Buffer, ms: number): void {
    this.items.push({ kind: 'audio', at: this.clock, ms, data });
    this.clock += ms;
    this.bytes += data.length;
  }

  addFlush(seq: number): FlushEntry {
    const entry: FlushEntry = { kind: 'flush', at: this.clock, seq, sentAt: performance.now(), answered: false };
    this.items.push(entry);
    this.flushesWaiting++;
    return entry;
  }

  addControl(text: string, own = false): ControlEntry {
    let message: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) message = parsed as Record<string, unknown>;
    } catch {
      // Not JSON: sent as it is; the service answers with an error.
    }
    // mute/unmute are config's `muted` (answered with a config ack): kept as such, so the state
    // a replacement connection is given includes them.
    if (message?.type === 'mute' || message?.type === 'unmute') message = { type: 'config', muted: message.type === 'mute' };
    const entry: ControlEntry = { kind: 'control', at: this.clock, text, message, acked: false, own };
    this.items.push(entry);
    return entry;
  }

  remove(entry: LogEntry): void {
    const i = this.items.indexOf(entry);
    if (i < 0) return;
    this.items.splice(i, 1);
    if (entry.kind === 'audio') this.bytes -= entry.data.length;
  }

  unansweredFlushes(): FlushEntry[] {
    return this.items.filter((e): e is FlushEntry => e.kind === 'flush' && !e.answered);
  }

  unansweredControls(): ControlEntry[] {
    return this.items.filter((e): e is ControlEntry => e.kind === 'control' && !e.acked);
  }

  /** Marks the oldest waiting flush answered and returns it. */
  answerOldestFlush(): FlushEntry | undefined {
    const flush = this.items.find((e): e is FlushEntry => e.kind === 'flush' && !e.answered);
    if (flush) {
      flush.answered = true;
      this.flushesWaiting--;
    }
    return flush;
  }

  /** Flush mode: a reset discards the audio since the last flush, so it need not be replayed. */
  dropAudioSinceLastFlush(): void {
    let i = this.items.length - 1;
    while (i >= 0 && this.items[i]!.kind !== 'flush') i--;
    const kept = this.items.slice(0, i + 1);
    for (const e of this.items.slice(i + 1)) {
      if (e.kind === 'audio') this.bytes -= e.data.length;
      else kept.push(e);
    }
    this.items = kept;
  }

  /**
   * Forgets the settled prefix up to `point` (ms on the caller's clock): audio that ends by then,
   * answered flushes and acknowledged control messages. It stops at the first thing still owed
   * an answer, or audio reaching past the point, so nothing later is ever replayed out of order.
   */
  settle(point: number): void {
    let n = 0;
    for (const e of this.items) {
      if (e.at > point) break;
      if (e.kind === 'audio' && e.at + e.ms > point) break;
      if (e.kind === 'flush' && !e.answered) break;
      if (e.kind === 'control' && !e.acked) break;
      n++;
    }
    for (const e of this.items.splice(0, n)) this.forget(e);
  }

  /**
   * Acknowledged control messages at the head of the log, with nothing unsettled before them,
   * become settled config at once: a storm of them (mute, unmute, ...) with no audio between
   * keeps one merged config, not a growing list.
   */
  foldAckedControls(): void {
    while (this.items[0]?.kind === 'control' && this.items[0].acked) this.forget(this.items.shift()!);
  }

  /** Ms of the audio kept that lies after `point` on the caller's clock. */
  audioMsAfter(point: number): number {
    let ms = 0;
    for (const e of this.items) if (e.kind === 'audio') ms += Math.max(0, e.at + e.ms - Math.max(point, e.at));
    return ms;
  }

  /** No service is left: everything is settled (answered with errors); acknowledged settings stay. */
  abandon(): void {
    for (const e of this.items.splice(0)) if (e.kind !== 'control' || e.acked) this.forget(e);
    this.flushesWaiting = 0;
  }

  private forget(e: LogEntry): void {
    if (e.kind === 'control' && e.message?.type === 'assistant_speech') this.settledAssistant = e.message.state === 'start' ? e.text : undefined;
    if (e.kind === 'audio') this.bytes -= e.data.length;
    else if (e.kind === 'control' && e.message?.type === 'config') {
      const { type: _type, ...fields } = e.message;
      this.settledConfig = { ...this.settledConfig, ...fields };
    }
  }
}
