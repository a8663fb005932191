import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Backend } from '../src/backend.js';
import { HoldExpired, memberWaiter } from '../src/backend_pool.js';
import { HoldFull } from '../src/upstream_error.js';

/** A member whose address refuses every connection: it stays down however often it is asked. */
async function downMember(): Promise<Backend> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  const member = new Backend('cpu', `http://127.0.0.1:${port}`);
  member.markDown('test: down');
  return member;
}

describe('memberWaiter', () => {
  it('lets a waiter that leaves go at once, mid-sleep, and gives its held place back', async () => {
    const member = await downMember();
    // A minute between looks: only the signal can end the first wait within the test.
    const wait = memberWaiter(() => member, 60_000, () => {}, 1);
    const leaving = new AbortController();
    const first = wait({ until: performance.now() + 120_000, surface: 'rest', signal: leaving.signal, request: true });
    await expect(wait({ until: performance.now() + 120_000, surface: 'rest', request: true })).rejects.toBeInstanceOf(HoldFull);
    leaving.abort();
    await expect(first).rejects.toThrow(/went away/);
    // Its place is free: the next request is held (until its own short hold ends), not refused.
    await expect(wait({ until: performance.now() + 20, surface: 'rest', request: true })).rejects.toBeInstanceOf(HoldExpired);
  });

  it('never bounds WebSocket sessions by the held-request limit', async () => {
    const member = await downMember();
    const wait = memberWaiter(() => member, 10, () => {}, 0);
    await expect(wait({ until: performance.now() + 20, surface: 'ws' })).rejects.toBeInstanceOf(HoldExpired);
  });
});
