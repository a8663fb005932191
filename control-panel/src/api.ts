import type { BackendStatus } from '@vtuber-stt/proxy';

export interface Status {
  gpu_enabled: boolean;
  gpu_available: boolean;
  transcribe_route: string;
  backends: Record<string, BackendStatus>;
}

async function json<T>(response: Response): Promise<T> {
  const body = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

export const getStatus = () => fetch('api/status').then((r) => json<Status>(r));

export const setGpu = (enabled: boolean) =>
  fetch('api/gpu', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled }) }).then((r) =>
    json<{ enabled: boolean; transcribe_route: string }>(r),
  );

/** ws:// URL of a path on the page's own origin (the proxy, or nginx in compose). */
export function wsUrl(path: string): string {
  const u = new URL(path, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}
