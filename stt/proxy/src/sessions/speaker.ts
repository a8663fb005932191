import { ServiceError, shiftTimes } from '@vtuber-stt/core';
import type { RelayClient } from '../transcribe_relay.js';
import type { SessionHub } from './session_hub.js';
import { sessionName } from './session_names.js';

/**
 * A transcription connection's side of a named session (`?session=main`): `wrap` gives a relay
 * client whose every message also reaches the session's listeners, `release` ends the claim.
 * Unnamed, the connection stays private and `wrap` changes nothing. Another connection already
 * speaking on the name refuses this one (1013: it may be on its way out). `command` sends the
 * proxy's own control message on the connection (a remote mute).
 *
 * A connection may wrap several relays one after another (a realtime session reopens its upstream
 * when its audio format changes): each numbers its seqs from 1 and its times from 0, so listeners
 * hear each one after the last seq published before it and `clockBaseMs` (where its audio begins
 * on the connection's timeline) later: one numbering, one timeline, for the whole connection.
 */
export function speakOn(hub: SessionHub, name: unknown, command: (text: string) => void): { wrap(client: RelayClient, clockBaseMs?: number): RelayClient; release(): void } {
  if (name === undefined) return { wrap: (client) => client, release: () => {} };
  const speaker = hub.speak(sessionName(name), command);
  if (typeof speaker === 'string') throw new ServiceError('session_in_use', speaker);
  /** The highest seq listeners have heard from this connection. */
  let lastSeq = 0;
  return {
    wrap: (client, clockBaseMs = 0) => {
      const seqBase = lastSeq;
      return {
        send(message) {
          client.send(message);
          const heard = seqBase === 0 && clockBaseMs === 0 ? message : { ...message };
          if (heard !== message) {
            if (typeof heard.seq === 'number') heard.seq += seqBase;
            shiftTimes(heard, clockBaseMs);
          }
          if (typeof heard.seq === 'number') lastSeq = Math.max(lastSeq, heard.seq);
          speaker.publish(heard);
        },
        close: (code, reason) => client.close(code, reason),
      };
    },
    release: () => speaker.release(),
  };
}

/** Runs `open` for a connection that has claimed a name, letting the name go if opening fails. */
export function openedOrReleased<T>(release: () => void, open: () => T): T {
  try {
    return open();
  } catch (error) {
    release();
    throw error;
  }
}

/** The query string a backend is given: the client's, less what only the proxy reads (the session name, the key). */
export function upstreamQuery(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return '';
  const params = new URLSearchParams(url.slice(at + 1));
  params.delete('session');
  params.delete('api_key');
  const rest = params.toString();
  return rest ? `?${rest}` : '';
}
