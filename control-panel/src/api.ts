import { t } from './i18n.js';
import type { BackendStatus } from '@vtuber-stt/proxy';

export interface Status {
  gpu_enabled: boolean;
  gpu_available: boolean;
  transcribe_route: string;
  backends: Record<string, BackendStatus>;
}

const KEY_STORE = 'vtuber-stt-api-key';

/** The API key this browser keeps for the stack, if it ever needed one. */
export function apiKey(): string | undefined {
  return localStorage.getItem(KEY_STORE) ?? undefined;
}

/**
 * fetch with the kept key; a 401 asks for the key once (and again only if the one given was
 * refused), keeps it in this browser, and retries.
 */
async function authFetch(url: string, init: RequestInit = {}): Promise<Response> {
  for (let asked = 0; ; asked++) {
    const key = apiKey();
    const headers = new Headers(init.headers);
    if (key) headers.set('authorization', `Bearer ${key}`);
    const response = await fetch(url, { ...init, headers });
    if (response.status !== 401 || asked >= 2) return response;
    const entered = window.prompt(t(key ? 'apiKeyWrong' : 'apiKeyPrompt'));
    if (!entered) return response;
    localStorage.setItem(KEY_STORE, entered.trim());
  }
}

async function json<T>(response: Response): Promise<T> {
  const body = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

export const getStatus = () => authFetch('api/status').then((r) => json<Status>(r));

export const setGpu = (enabled: boolean) =>
  authFetch('api/gpu', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled }) }).then((r) =>
    json<{ enabled: boolean; transcribe_route: string }>(r),
  );

/** A named session as `GET /api/sessions` lists it. */
export interface SessionInfo {
  name: string;
  live: boolean;
  muted: boolean;
  listeners: number;
}

export const getSessions = () => authFetch('api/sessions').then((r) => json<{ sessions: SessionInfo[] }>(r));

/** Mutes or unmutes a session's microphone connection (404 when nothing speaks on it). */
export const setMuted = (session: string, muted: boolean) =>
  authFetch(`api/sessions/${encodeURIComponent(session)}/${muted ? 'mute' : 'unmute'}`, { method: 'POST' }).then((r) => json<{ session: string; muted: boolean }>(r));

/** ws:// URL of a path on the page's own origin (the proxy, or nginx in compose). */
export function wsUrl(path: string): string {
  const u = new URL(path, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  // A browser's WebSocket cannot send headers: the key goes in the query string.
  const key = apiKey();
  if (key) u.searchParams.set('api_key', key);
  return u.toString();
}
