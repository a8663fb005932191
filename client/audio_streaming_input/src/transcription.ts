import { ResilientTranscriber, type ResilientOptions } from '@vtuber-stt/core/client';
import type { StreamerOptions } from './turn_flow.js';

export interface Transcription {
  transcriber: ResilientTranscriber;
  /** Resolves on the first successful connection. */
  connected: Promise<void>;
  /**
   * Sends audio; a frame the replay bound refuses is reported once per run of refusals. Throws
   * once the service has refused the session for good (a bad setting): nothing more would be heard.
   */
  send(chunk: Buffer): void;
  /** Throws if the service refused the session, saying why. */
  check(): void;
}

/**
 * The client's /ws/transcribe connection on a ResilientTranscriber (kept audio, reconnects with
 * backoff, renumbered replies), logging what a person at the console wants to know.
 */
export function openTranscription(
  options: StreamerOptions,
  how: { url: string; turns?: 'server' | 'flush'; onReply: ResilientOptions['onReply']; onMessage: NonNullable<ResilientOptions['onMessage']> },
): Transcription {
  const { log } = options;
  let firstConnect!: () => void;
  const connected = new Promise<void>((resolve) => (firstConnect = resolve));
  const unit = how.turns === 'server' ? 'utterance(s) in progress' : 'utterance(s)';
  const transcriber = new ResilientTranscriber({
    turns: how.turns,
    next: () => ({ url: how.url }),
    maxReplayBytes: options.maxBufferBytes,
    // Through the proxy, a restarting backend answers engine_unavailable: wait and send again.
    retryCodes: ['engine_unavailable', 'overloaded'],
    // Its waits are the shared retry policy's defaults (DEFAULT_RETRY_POLICY), as on the proxy's links.
    onReply: how.onReply,
    onMessage: how.onMessage,
    onConnectionChange: (event) => {
      options.onConnectionChange?.(event);
      const { type, detail, pending } = event;
      if (type === 'connected') {
        firstConnect();
        log.info(`transcription connected${pending ? `; re-sending ${pending} ${unit}` : ''}`);
      } else if (type === 'lost') log.warn(`transcription connection lost (${detail}); reconnecting, ${pending} ${unit} kept`);
      else if (type === 'refused') {
        firstConnect(); // nobody waits for a connection that will not come: the next send says why
        log.error(`transcription service refused the session: ${detail}`);
      } else log.debug(`transcription connect failed: ${detail}`);
    },
  });
  let warned = false;
  const check = () => {
    const refused = transcriber.refused;
    if (refused) throw new Error(`the transcription service refused the session (${refused.code}${refused.reason ? `: ${refused.reason}` : ''})`);
  };
  return {
    transcriber,
    connected,
    check,
    send(chunk) {
      check();
      const refused = transcriber.sendAudio(chunk);
      if (refused && !warned) log.warn(`audio not kept: ${refused} (--max-buffer-s)`);
      warned = refused !== undefined;
    },
  };
}
