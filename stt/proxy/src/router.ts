import type { Backend } from './backend.js';
import type { BackendPool, Backends } from './backend_pool.js';
import type { ToggleStore } from './toggle_store.js';

/**
 * Which transcription member a new session (or a failover) uses. The GPU pool when the toggle is
 * on and it has a ready member, else the CPU pool; within a pool, the least loaded ready member.
 * A member whose session slots are all taken (see Backend.capacity) is passed over for one of
 * the other pool that has room, and named only when none has: the relay then waits (its caller
 * checks admitsSession), a REST request uses the slots kept free. `avoid` just failed: its sessions go to another member of its own pool first, then to the
 * other device. With nothing ready anywhere, some member is still named, so the caller's
 * retries reach whichever comes back first.
 */
export function chooseTranscriber(backends: Backends, toggle: ToggleStore, avoid?: Backend): Backend {
  const { cpu, gpu } = backends;
  let pools: BackendPool[] = toggle.gpuEnabled && gpu ? [gpu, cpu] : gpu ? [cpu, gpu] : [cpu];
  if (avoid) pools = [...pools.filter((p) => p.has(avoid)), ...pools.filter((p) => !p.has(avoid))];
  let full: Backend | undefined;
  for (const pool of pools) {
    const member = pool.leastLoaded(avoid);
    if (member?.admitsSession()) return member;
    full ??= member;
  }
  return full ?? cpu.any(avoid) ?? gpu?.any(avoid) ?? avoid ?? cpu.all()[0]!;
}
