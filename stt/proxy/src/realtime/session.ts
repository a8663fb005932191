import { randomBytes } from 'node:crypto';
import { FLUSH_COMMAND, isWhisperLanguage, unknownLanguageMessage, type ErrorMessage } from '@vtuber-stt/core';
import { languagesOf } from '../openai_format.js';
import type { RelayClient, RelaySession } from '../transcribe_relay.js';
import { applyTurnDetection, DEFAULT_VAD, describeSession, errorType, isBase64, type ClientEvent, type SessionConfig, type SessionUpdate } from './events.js';

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url')}`;

/** OpenAI refuses to commit less than this; so do we (whisper.cpp would hear nothing in it anyway). */
const MIN_COMMIT_MS = 100;

export interface RealtimeOptions {
  /**
   * Opens a relayed /ws/transcribe session with this query string, driven by `client`; its audio
   * begins `clockBaseMs` into the session (the audio of the upstreams before it).
   */
  relay(client: RelayClient, query: string, clockBaseMs: number): RelaySession;
  /** Sends one server event to the client. */
  send(event: Record<string, unknown>): void;
  /** Ends the client's connection. */
  close(code: number, reason: string): void;
}

/** One utterance, as an OpenAI conversation item. */
interface Item {
  id: string;
  /** Stable text already sent as deltas. */
  sent: string;
  committed: boolean;
}

/**
 * An OpenAI Realtime transcription session mapped onto our own /ws/transcribe protocol, relayed
 * to a backend like any other session (same failover, same turn taking, same transcriber): an
 * adapter, not a second engine path.
 *
 * server_vad / semantic_vad → `turns=server&partials=1`, their waits as the turn settings:
 * speech_start/speech_end become speech_started, speech_stopped and committed; the stable part
 * of each partial becomes an append-only delta; the final becomes completed (or failed).
 * `turn_detection: null` → flush mode: commit is `<flush>`, and its answer completes the
 * committed item.
 */
export class RealtimeSession {
  readonly id = id('sess');
  private config: SessionConfig = {
    rate: 24000,
    model: 'whisper-1',
    language: null,
    prompt: '',
    vad: DEFAULT_VAD,
  };
  private upstream: RelaySession;
  /** Items by the upstream seq that answers them. */
  private readonly items = new Map<number, Item>();
  private lastCommitted: string | null = null;
  /** Manual mode: flushes sent on the current upstream (its seqs count them). */
  private flushes = 0;
  /** Audio of earlier upstream sessions, so event times stay on one timeline (ms). */
  private clockBase = 0;
  /** Audio accepted so far, on that timeline (ms). */
  private sentMs = 0;
  /**
   * Where the input buffer begins on that timeline (ms): audio before it was committed (by a
   * commit, or by server VAD at a speech end) or cleared. A commit needs MIN_COMMIT_MS past it.
   */
  private bufferStartMs = 0;
  /**
   * Settings the upstream has not been given: they go ahead of the next input, so a session
   * that connects and configures but sends nothing holds no backend connection (the relay
   * opens one at its first input).
   */
  private configPending = true;

  constructor(private readonly options: RealtimeOptions) {
    this.upstream = this.open();
    this.event({ type: 'session.created', session: describeSession(this.id, this.config) });
  }

  handle(event: ClientEvent): void {
    switch (event.type) {
      case 'session.update':
        return this.update(event.session, event.event_id);
      case 'input_audio_buffer.append':
        return this.append(event.audio, event.event_id);
      case 'input_audio_buffer.commit':
        return this.commit(event.event_id);
      case 'input_audio_buffer.clear':
        this.bufferStartMs = this.sentMs;
        this.input().text(JSON.stringify({ type: 'reset' }));
        return;
    }
  }

  /** The proxy's own control message for the upstream (a remote mute of a named session): answered to nobody. */
  command(text: string): void {
    this.input().command(text);
  }

  /** An error event: anything malformed, or a failure that belongs to no item. The session goes on. */
  error(code: string, message: string, eventId?: string, param?: string): void {
    this.event({ type: 'error', error: { type: errorType(code), code, message, param: param ?? null, event_id: eventId ?? null } });
  }

  close(): void {
    this.upstream.close();
  }

  private event(body: Record<string, unknown>): void {
    this.options.send({ event_id: id('event'), ...body });
  }

  private get bytesPerMs(): number {
    return (this.config.rate * 2) / 1000;
  }

  /** Audio in the input buffer now (ms). */
  private get bufferedMs(): number {
    return this.sentMs - this.bufferStartMs;
  }

  private query(): string {
    const params = new URLSearchParams({ sample_rate: String(this.config.rate), encoding: 's16le' });
    if (this.config.vad) {
      params.set('turns', 'server');
      params.set('partials', '1');
    }
    return `?${params}`;
  }

  /** The settings our protocol takes as a config message. */
  private upstreamConfig(): Record<string, unknown> {
    const c: Record<string, unknown> = { type: 'config', language: this.config.language ?? 'auto', prompt: this.config.prompt };
    const vad = this.config.vad;
    if (vad) {
      c.threshold = vad.threshold;
      c.pre_roll_ms = vad.prefix_padding_ms;
      // The turn ends after this much silence; sooner when the text already ends a sentence.
      c.end_of_turn_ms = vad.silence_duration_ms;
      c.sentence_end_ms = vad.sentence_end_ms;
    }
    return c;
  }

  /** The upstream, given the pending settings first. */
  private input(): RelaySession {
    if (this.configPending) {
      this.configPending = false;
      this.upstream.text(JSON.stringify(this.upstreamConfig()));
    }
    return this.upstream;
  }

  private open(): RelaySession {
    this.flushes = 0;
    this.configPending = true;
    const upstream = this.options.relay(
      {
        send: (message) => {
          if (this.upstream === upstream) this.fromUpstream(message);
        },
        close: (code, reason) => this.options.close(code, reason),
      },
      this.query(),
      this.clockBase,
    );
    return upstream;
  }

  private update(session: SessionUpdate, eventId?: string): void {
    const input = session.audio?.input;
    const next: SessionConfig = { ...this.config };
    if (input?.format?.rate !== undefined) next.rate = input.format.rate;
    if (input?.transcription) {
      const t = input.transcription;
      if (t.model !== undefined) next.model = t.model;
      if (t.language !== undefined) next.language = t.language ? t.language.toLowerCase() : null;
      if (next.language !== null && !isWhisperLanguage(next.language)) {
        const param = 'session.audio.input.transcription.language';
        return this.error('invalid_value', unknownLanguageMessage(t.language!, param), eventId, param);
      }
      if (t.prompt !== undefined) next.prompt = t.prompt ?? '';
    }
    if (input?.turn_detection === null) next.vad = null;
    else if (input?.turn_detection) next.vad = applyTurnDetection(this.config.vad, input.turn_detection);
    const reconnect = next.rate !== this.config.rate || (next.vad === null) !== (this.config.vad === null);
    // Our protocol fixes the audio format and who ends turns per connection, so a fresh one is
    // opened: only safe with no item owed a transcript and, without server VAD, nothing uncommitted.
    if (reconnect && (this.items.size > 0 || (!this.config.vad && this.bufferedMs > 0))) {
      return this.error(
        'session_update_not_allowed',
        'the audio format and turn_detection can change only while nothing is buffered or being transcribed: commit or clear first, and wait for the transcript',
        eventId,
        'session.audio.input',
      );
    }
    this.config = next;
    if (reconnect) {
      this.upstream.close();
      this.clockBase = this.sentMs;
      // What the old connection held went with it.
      this.bufferStartMs = this.sentMs;
      this.upstream = this.open();
    } else {
      this.configPending = true;
    }
    this.event({ type: 'session.updated', session: describeSession(this.id, this.config) });
  }

  private append(audio: string, eventId?: string): void {
    if (!isBase64(audio)) return this.error('invalid_value', 'audio must be base64-encoded 16-bit PCM', eventId, 'audio');
    const bytes = Buffer.from(audio, 'base64');
    if (bytes.length === 0) return;
    if (bytes.length % 2 !== 0) return this.error('invalid_value', `audio of ${bytes.length} bytes is not a whole number of 16-bit samples`, eventId, 'audio');
    // A frame the relay refuses (too large, past what it may hold) was answered with an error and is not buffered.
    if (!this.input().audio(bytes)) return;
    this.sentMs += bytes.length / this.bytesPerMs;
  }

  private commit(eventId?: string): void {
    // With server VAD too: a commit of nothing would make an empty item (OpenAI refuses it the same way).
    const heldMs = this.bufferedMs;
    if (heldMs < MIN_COMMIT_MS) {
      return this.error(
        'input_audio_buffer_commit_empty',
        `buffer too small: expected at least ${MIN_COMMIT_MS}ms of audio, but buffer only has ${heldMs.toFixed(2)}ms of audio`,
        eventId,
      );
    }
    this.bufferStartMs = this.sentMs;
    if (this.config.vad) {
      // Ends the utterance in progress now; its speech_end (or, with none open, its final) commits it.
      this.input().text(FLUSH_COMMAND);
      return;
    }
    const seq = ++this.flushes;
    const item = this.newItem(seq);
    this.commitItem(item);
    this.input().text(FLUSH_COMMAND);
  }

  private newItem(seq: number): Item {
    const item = { id: id('item'), sent: '', committed: false };
    this.items.set(seq, item);
    return item;
  }

  private commitItem(item: Item): void {
    if (item.committed) return;
    item.committed = true;
    this.event({ type: 'input_audio_buffer.committed', previous_item_id: this.lastCommitted, item_id: item.id });
    this.lastCommitted = item.id;
  }

  private ms(offset: unknown): number {
    return Math.round(this.clockBase + Number(offset ?? 0));
  }

  private fromUpstream(m: Record<string, unknown>): void {
    const seq = typeof m.seq === 'number' ? m.seq : undefined;
    switch (m.type) {
      case 'speech_start': {
        const item = this.newItem(seq!);
        const padding = this.config.vad?.prefix_padding_ms ?? 0;
        // OpenAI's start includes the prefix padding: where the audio given to the model begins.
        this.event({ type: 'input_audio_buffer.speech_started', audio_start_ms: Math.max(0, this.ms(m.start_ms) - padding), item_id: item.id });
        return;
      }
      case 'speech_end': {
        const item = this.items.get(seq!);
        if (!item) return;
        this.event({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: this.ms(m.end_ms), item_id: item.id });
        // Server VAD committed the buffer up to the speech's end.
        this.bufferStartMs = Math.max(this.bufferStartMs, this.ms(m.end_ms));
        this.commitItem(item);
        return;
      }
      case 'partial': {
        const item = this.items.get(seq!);
        const stable = String(m.stable ?? '');
        // Deltas are append-only: only text two decodes agreed on, and only what was not sent yet.
        if (item && stable.length > item.sent.length && stable.startsWith(item.sent)) this.delta(item, stable);
        return;
      }
      case 'transcript':
        if (m.final === false) return;
        return this.completed(seq!, m);
      case 'error':
        if (seq !== undefined) return this.failed(seq, m as unknown as ErrorMessage);
        return this.error(String(m.code), String(m.error));
      case 'reset':
        this.event({ type: 'input_audio_buffer.cleared' });
        return;
      default:
        // Config acks: session.updated has answered already.
        return;
    }
  }

  private delta(item: Item, text: string): void {
    const delta = text.slice(item.sent.length);
    item.sent = text;
    this.event({ type: 'conversation.item.input_audio_transcription.delta', item_id: item.id, content_index: 0, delta });
  }

  private completed(seq: number, m: Record<string, unknown>): void {
    let item = this.items.get(seq);
    this.items.delete(seq);
    if (m.dropped === 'reset' && !item?.committed) {
      // Discarded by input_audio_buffer.clear before it was committed: no item came of it. One
      // that speech_started (and maybe deltas) announced still gets its one ending, so a client
      // holding it open (a caption line) knows to drop it.
      if (item) this.failedItem(item, 'input_audio_buffer_cleared', 'the audio of this item was cleared (input_audio_buffer.clear) before it was committed');
      return;
    }
    if (!item) item = { id: id('item'), sent: '', committed: false };
    this.commitItem(item);
    const transcript = String(m.text ?? '');
    if (transcript.startsWith(item.sent) && transcript.length > item.sent.length) this.delta(item, transcript);
    this.event({
      type: 'conversation.item.input_audio_transcription.completed',
      item_id: item.id,
      content_index: 0,
      transcript,
      usage: { type: 'duration', seconds: Number(m.audio_ms ?? 0) / 1000 },
      // OpenAI's shape, which LiveKit's plugin reads; `language` (ours, the same code) stays beside it.
      languages: languagesOf(typeof m.language === 'string' ? m.language : undefined),
      language: m.language,
    });
  }

  private failed(seq: number, m: ErrorMessage): void {
    const item = this.items.get(seq) ?? { id: id('item'), sent: '', committed: false };
    this.items.delete(seq);
    this.commitItem(item);
    this.failedItem(item, m.code, m.error);
  }

  private failedItem(item: Item, code: string, message: string): void {
    this.event({
      type: 'conversation.item.input_audio_transcription.failed',
      item_id: item.id,
      content_index: 0,
      error: { type: errorType(code), code, message, param: null },
    });
  }
}
