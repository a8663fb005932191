import { ServiceError } from '@vtuber-stt/core';
import type { RelayClient } from '../transcribe_relay.js';
import type { SessionHub } from './session_hub.js';
import { sessionName } from './session_names.js';

/**
 * A transcription connection's side of a named session (`?session=main`): everything the
 * connection is sent also reaches the session's listeners. Unnamed, the connection stays private
 * and `client` is returned as it is. Another connection already speaking on the name refuses this
 * one (1013: it may be on its way out).
 */
export function speakOn(hub: SessionHub, name: unknown, client: RelayClient, command: (text: string) => void): { client: RelayClient; release(): void } {
  if (name === undefined) return { client, release: () => {} };
  const speaker = hub.speak(sessionName(name), command);
  if (typeof speaker === 'string') throw new ServiceError('session_in_use', speaker);
  return {
    client: {
      send(message) {
        client.send(message);
        speaker.publish(message);
      },
      close: (code, reason) => client.close(code, reason),
    },
    release: () => speaker.release(),
  };
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
