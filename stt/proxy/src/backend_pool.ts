import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Backend, type BackendName, type BackendState, type BackendStatus } from './backend.js';
import { HoldFull } from './upstream_error.js';

/** Addresses of a host name: several for a headless Service or `docker compose --scale`. */
export type Resolver = (host: string) => Promise<string[]>;

/**
 * One address family only: `localhost` is both 127.0.0.1 and ::1, which is one server, not two.
 * IPv4 first (what Docker and Kubernetes hand out), IPv6 when a name has no IPv4 address.
 */
export const resolveHost: Resolver = async (host) => {
  const v4 = await lookup(host, { all: true, family: 4 }).catch(() => []);
  if (v4.length > 0) return v4.map((a) => a.address);
  return (await lookup(host, { all: true, family: 6 })).map((a) => a.address);
};

export interface PoolStatus extends BackendStatus {
  members: BackendStatus[];
}

const RANK: Record<BackendState, number> = { ready: 0, loading: 1, down: 2 };

/**
 * The members serving one device (cpu or gpu): every URL configured, with each host name that
 * resolves to several addresses expanded to one member per address. Names are resolved again on
 * every poll, so members that a scaler adds or removes come and go without a restart; a member
 * that disappears from the name keeps its open sessions until they end or fail over.
 */
export class BackendPool {
  private readonly members = new Map<string, Backend>();
  private resolveError?: string;

  constructor(
    readonly name: BackendName,
    /** The configured URLs, as given. */
    readonly urls: string[],
    private readonly resolver: Resolver = resolveHost,
    /** Sent to every member (the proxy's API key for the backends). */
    private readonly headers: Record<string, string> = {},
  ) {
    // Until the first resolution, each URL stands for itself, so the pool is never empty.
    for (const url of urls) this.members.set(url, this.member(url));
  }

  private member(url: string, host?: string): Backend {
    return new Backend(this.name, url, host, this.headers);
  }

  /** The configured URLs, for logs. */
  get url(): string {
    return this.urls.join(',');
  }

  get state(): BackendState {
    let best: BackendState = 'down';
    for (const m of this.members.values()) if (RANK[m.state] < RANK[best]) best = m.state;
    return best;
  }

  all(): Backend[] {
    return [...this.members.values()];
  }

  /**
   * The member a new session should use: the ready one with the least work (its queue as its
   * /metrics last said, plus the sessions and flushes this proxy has given it since), not `avoid`.
   */
  leastLoaded(avoid?: Backend): Backend | undefined {
    let best: Backend | undefined;
    for (const m of this.members.values()) {
      if (m === avoid || m.state !== 'ready') continue;
      if (!best || m.load < best.load) best = m;
    }
    return best;
  }

  /** Any member but `avoid`, ready or not: what to try when no member is ready. */
  any(avoid?: Backend): Backend | undefined {
    return this.all().find((m) => m !== avoid);
  }

  has(member: Backend): boolean {
    for (const m of this.members.values()) if (m === member) return true;
    return false;
  }

  /** Resolves every URL's host again, then polls every member. */
  async poll(): Promise<void> {
    await this.resolve();
    await Promise.all(this.all().map((m) => m.poll()));
  }

  status(): PoolStatus {
    const members = this.all().map((m) => m.status());
    const lead = members.find((m) => m.state === 'ready') ?? members[0];
    const known = members.filter((m) => m.queue_depth !== undefined);
    return {
      ...(lead ?? { name: this.name, url: this.url }),
      name: this.name,
      url: this.url,
      state: this.state,
      queue_depth: known.length ? known.reduce((n, m) => n + m.queue_depth!, 0) : undefined,
      sessions: members.reduce((n, m) => n + (m.sessions ?? 0), 0),
      max_connections: members.every((m) => m.max_connections !== undefined) ? members.reduce((n, m) => n + m.max_connections!, 0) : undefined,
      error: this.state === 'ready' ? undefined : (this.resolveError ?? lead?.error),
      members,
    };
  }

  private async resolve(): Promise<void> {
    const next = new Map<string, Backend>();
    const errors: string[] = [];
    for (const url of this.urls) {
      const u = new URL(url);
      const host = u.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host)) {
        next.set(url, this.members.get(url) ?? this.member(url));
        continue;
      }
      let addresses: string[];
      try {
        addresses = await this.resolver(host);
      } catch (error) {
        errors.push(`${host}: ${(error as Error).message}`);
        // Keep what we had: a resolver hiccup must not drop live members.
        for (const [key, m] of this.members) if (key === url || m.host === host) next.set(key, m);
        continue;
      }
      if (addresses.length <= 1) {
        // One address: the URL as written (keeps TLS names and Host headers right).
        next.set(url, this.members.get(url) ?? this.member(url));
        continue;
      }
      for (const address of addresses) {
        const member = new URL(url);
        member.hostname = isIP(address) === 6 ? `[${address}]` : address;
        const key = member.toString().replace(/\/+$/, '');
        next.set(key, this.members.get(key) ?? this.member(key, host));
      }
    }
    this.resolveError = errors.length ? `cannot resolve ${errors.join('; ')}` : undefined;
    this.members.clear();
    for (const [k, m] of next) this.members.set(k, m);
  }
}

/** No member came back within the hold (STT_PROXY_HOLD_MS): the message says how long was waited. */
export class HoldExpired extends Error {}

export interface MemberWait {
  /** The member that just failed, if any: another ready one is taken at once when there is one. */
  avoid?: Backend;
  /** When the hold ends (performance.now() time): the caller's, fixed at its first failure. */
  until: number;
  /** Which surface waits (the label of stt_proxy_held_total). */
  surface: string;
  /** The caller went away: stop waiting. */
  signal?: AbortSignal;
  /**
   * A REST or SSE request, whose whole upload waits with it: those held at once are bounded
   * (WebSocket sessions are bounded by STT_PROXY_MAX_CONNECTIONS already).
   */
  request?: boolean;
}

/** Resolves with a member that is ready now or once one is back; rejects with HoldExpired past `until`. */
export type WaitForMember = (wait: MemberWait) => Promise<Backend>;

/**
 * The one way every surface waits out a restart: a request or session whose member died (or
 * that finds none ready) is held, not failed, until a member is back. It resolves at once with
 * a ready member (another one than `avoid` first, as `choose` ranks them); otherwise it asks the
 * chosen member's /ready itself every `retryMs` (a restarted service is found within that, not
 * at the next status poll) and resolves once one answers ready. Past `until` it rejects with
 * HoldExpired; `onHeld` is told once per wait that had to wait. Past `maxHeldRequests` requests
 * waiting at once, the next one is refused at once with HoldFull.
 */
export function memberWaiter(choose: (avoid?: Backend) => Backend, retryMs: number, onHeld: (surface: string) => void, maxHeldRequests = Infinity): WaitForMember {
  let heldRequests = 0;
  const waitForReady = async (until: number, signal: AbortSignal | undefined): Promise<Backend> => {
    const start = performance.now();
    for (;;) {
      const left = until - performance.now();
      if (left <= 0) throw new HoldExpired(`no transcription member was back after waiting ${Math.round(performance.now() - start)} ms (STT_PROXY_HOLD_MS)`);
      // A wait before each look: a member that answers ready but fails every connection is not hammered.
      await whileWanted(delay(Math.min(retryMs, left)), signal);
      const member = choose();
      if (member.state !== 'ready') await whileWanted(member.poll(Math.round(Math.max(50, Math.min(1500, until - performance.now())))), signal);
      if (member.state === 'ready') return member;
    }
  };
  return async ({ avoid, until, surface, signal, request = false }) => {
    const member = choose(avoid);
    if (member.state === 'ready') return member;
    if (request && heldRequests >= maxHeldRequests) throw new HoldFull(heldRequests);
    onHeld(surface);
    if (request) heldRequests++;
    try {
      return await waitForReady(until, signal);
    } finally {
      if (request) heldRequests--;
    }
  };
}

/**
 * `work`, or a rejection the moment the caller goes away. The work itself runs on (a status poll
 * updates state every waiter shares), but nobody who left waits for it.
 */
function whileWanted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const gone = () => reject(new Error('the caller went away while waiting for a transcription member'));
    if (signal.aborted) return gone();
    signal.addEventListener('abort', gone, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', gone));
  });
}

/** Every service the proxy relays to: the device pools and the detection service. */
export interface Backends {
  cpu: BackendPool;
  gpu?: BackendPool;
  detect?: Backend;
}

export function allBackends(b: Backends): (Backend | BackendPool)[] {
  return [b.cpu, b.gpu, b.detect].filter((x): x is Backend | BackendPool => x !== undefined);
}
