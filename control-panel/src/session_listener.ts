import { wsUrl } from './api.js';

/**
 * A listener of one named session (`/ws/events?session=name`): every message to `onMessage`;
 * reconnects by itself (jittered backoff) unless refused for good (1008: a bad name or key),
 * which `onRefused` says in words.
 */
export class SessionListener {
  private ws?: WebSocket;
  private stopped = false;
  private wait = 250;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    readonly name: string,
    private readonly onMessage: (m: Record<string, unknown>) => void,
    private readonly onRefused: (reason: string) => void,
  ) {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, 'the panel watches another session');
  }

  private connect(): void {
    const ws = new WebSocket(wsUrl(`ws/events?session=${encodeURIComponent(this.name)}`));
    this.ws = ws;
    ws.onopen = () => (this.wait = 250);
    ws.onmessage = (e) => this.onMessage(JSON.parse(e.data as string) as Record<string, unknown>);
    ws.onclose = (e) => {
      if (this.stopped) return;
      if (e.code === 1008) return this.onRefused(e.reason || `code ${e.code}`);
      this.timer = setTimeout(() => this.connect(), this.wait * (0.7 + 0.3 * Math.random()));
      this.wait = Math.min(this.wait * 2, 10_000);
    };
  }
}
