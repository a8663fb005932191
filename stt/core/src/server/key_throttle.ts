import { isIPv6 } from 'node:net';

/** Wrong keys are counted per address over this window; past the limit the rest of it answers 429. */
export const KEY_FAILURE_WINDOW_MS = 60_000;
/** Addresses remembered at once: the oldest window goes first, so memory is bounded whatever a flood sends. */
const MAX_ADDRESSES = 10_000;

/**
 * Counts wrong API keys per client address (an IPv6 client per /64: one host holds them all) in
 * fixed windows. Every call is a constant number of Map operations: no timers, no sweeps.
 */
export class KeyThrottle {
  private readonly windows = new Map<string, { failures: number; endsAt: number }>();

  constructor(
    /** Wrong keys one address may present per window; 0 turns the throttle off. */
    private readonly maxFailures: number,
    private readonly windowMs = KEY_FAILURE_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `address` may try again, when it is over its limit; else undefined. */
  retryAfter(address: string): number | undefined {
    if (this.maxFailures <= 0) return undefined;
    const w = this.windows.get(addressKey(address));
    const now = this.now();
    if (!w || w.endsAt <= now || w.failures < this.maxFailures) return undefined;
    return Math.max(1, Math.ceil((w.endsAt - now) / 1000));
  }

  failed(address: string): void {
    if (this.maxFailures <= 0) return;
    const key = addressKey(address);
    const now = this.now();
    const w = this.windows.get(key);
    if (w && w.endsAt > now) {
      w.failures++;
      return;
    }
    // A new window goes to the end of the insertion order, so the first entry is the oldest.
    this.windows.delete(key);
    if (this.windows.size >= MAX_ADDRESSES) this.windows.delete(this.windows.keys().next().value!);
    this.windows.set(key, { failures: 1, endsAt: now + this.windowMs });
  }

  get size(): number {
    return this.windows.size;
  }
}

/** An IPv4 address as it is; an IPv6 one by its /64 prefix (IPv4-mapped ones as IPv4). */
function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head, tail = ''] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
