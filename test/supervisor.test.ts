import { afterEach, describe, expect, it } from 'vitest';
import { freePort, backendPort } from '../scripts/ports.js';
import { Supervisor, type MemberSpec, type SupervisorEvent, type SupervisorOptions } from '../scripts/supervisor.js';
import { isAlive, until } from './helpers/wait.js';

/** A member that is a tiny node program. */
const node = (name: string, code: string, extra: Partial<MemberSpec> = {}): MemberSpec => ({ name, command: process.execPath, args: ['-e', code], ...extra });
const EXITS = (code: number) => `console.log('going down'); console.error('boom: disk on fire'); process.exit(${code})`;
const STAYS = 'setInterval(() => {}, 1000)';
const IGNORES_TERM = "process.on('SIGTERM', () => {}); console.log('armed'); setInterval(() => {}, 1000)";

const running: Supervisor[] = [];
function supervise(specs: MemberSpec[], options: SupervisorOptions = {}) {
  const events: SupervisorEvent[] = [];
  const log: string[] = [];
  const output: string[] = [];
  const s = new Supervisor(specs, {
    initialDelayMs: 20,
    maxDelayMs: 1000,
    graceMs: 1000,
    log: (line) => log.push(line),
    forward: (name, _stream, chunk) => output.push(`${name}: ${chunk.toString()}`),
    onEvent: (e) => events.push(e),
    ...options,
  });
  running.push(s);
  s.start();
  const of = <T extends SupervisorEvent['type']>(type: T, name?: string) =>
    events.filter((e): e is Extract<SupervisorEvent, { type: T }> => e.type === type && (name === undefined || ('name' in e && e.name === name)));
  return { s, events, log, output, of };
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

describe('supervisor', () => {
  it('restarts a member that exits, each time as a new process, backing off while the exits come close together', async () => {
    const { of, log } = supervise([node('flaky', EXITS(3))], { maxExits: 5, windowMs: 60_000 });
    await until(() => of('gave_up').length === 1);
    const started = of('started', 'flaky');
    expect(started.map((e) => e.run)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(started.map((e) => e.pid)).size).toBe(5);
    // 20 ms, doubling per exit inside the window; the fifth exit is past the budget.
    expect(of('exited', 'flaky').map((e) => e.restartInMs)).toEqual([20, 40, 80, 160, undefined]);
    expect(of('exited', 'flaky').every((e) => e.code === 3)).toBe(true);
    expect(log.filter((l) => /^flaky pid \d+/.test(l))).toHaveLength(5);
    expect(log).toContain('flaky exited (code 3); restarting it in 20 ms (1 exit within 60 s; given up at 5)');
  });

  it('gives up a member that keeps crashing, naming it and quoting its last output, while the rest stays up', async () => {
    const { s, of, log } = supervise([node('crasher', EXITS(2)), node('steady', STAYS)], { maxExits: 3, windowMs: 60_000 });
    await until(() => of('gave_up').length === 1);
    const [gaveUp] = of('gave_up');
    expect(gaveUp).toMatchObject({ name: 'crasher', exits: 3 });
    // Its stdout and stderr lines both (the two pipes have no order between them).
    expect([...gaveUp!.tail].sort()).toEqual(['boom: disk on fire', 'going down']);
    const message = log.find((l) => l.startsWith('crasher exited (code 2) 3 times'))!;
    expect(message).toContain('giving it up; the rest of the stack stays up');
    expect(message).toContain('  | boom: disk on fire');
    // Given up: no further start, and the other member still runs, never restarted.
    expect(of('started', 'crasher')).toHaveLength(3);
    const steady = of('started', 'steady');
    expect(steady).toHaveLength(1);
    expect(s.pid('steady')).toBe(steady[0]!.pid);
    expect(isAlive(steady[0]!.pid)).toBe(true);
    expect(s.pid('crasher')).toBeUndefined();
    expect(of('stopped')).toEqual([]);
  });

  it('stops the whole stack, with exit code 1, when an essential member is given up', async () => {
    const { s, of, log } = supervise([node('steady', STAYS), node('door', EXITS(1), { essential: true })], { maxExits: 2, windowMs: 60_000 });
    const pid = of('started', 'steady')[0]!.pid;
    expect(await s.done).toBe(1);
    expect(log.some((l) => l.startsWith('door exited (code 1) 2 times') && l.includes('giving it up, and with it the stack'))).toBe(true);
    expect(isAlive(pid)).toBe(false);
    expect(of('stopped')).toEqual([{ type: 'stopped', code: 1 }]);
  });

  it('stops the stack at the first exit that says a restart would not help (a configuration error), quoting it', async () => {
    const { s, of, log } = supervise([node('steady', STAYS), node('misconfigured', EXITS(78))], { maxExits: 5, permanentExitCodes: [78] });
    const pid = of('started', 'steady')[0]!.pid;
    expect(await s.done).toBe(78);
    expect(of('started', 'misconfigured')).toHaveLength(1);
    expect(of('gave_up')).toMatchObject([{ name: 'misconfigured', exits: 1, permanent: true }]);
    const message = log.find((l) => l.startsWith('misconfigured stopped on its configuration (code 78)'))!;
    expect(message).toContain('  | boom: disk on fire');
    expect(isAlive(pid)).toBe(false);
  });

  it('counts only the exits inside the window: a member whose exits are far apart is restarted every time at the first delay', async () => {
    // A 1 ms window: each exit is alone in it (a node process takes longer than that to start).
    const { of } = supervise([node('rare', EXITS(0))], { maxExits: 2, windowMs: 1 });
    await until(() => of('started', 'rare').length >= 5);
    expect(of('gave_up')).toEqual([]);
    expect(
      of('exited', 'rare')
        .slice(0, 4)
        .map((e) => e.restartInMs),
    ).toEqual([20, 20, 20, 20]);
  });

  it('stop() ends every member, SIGKILL for one that ignores SIGTERM, and restarts none', async () => {
    const { s, of, output } = supervise([node('a', STAYS), node('stubborn', IGNORES_TERM)]);
    await until(() => of('started').length === 2 && output.some((o) => o.startsWith('stubborn: armed')));
    const pids = of('started').map((e) => e.pid);
    expect(await s.stop(0)).toBe(0);
    expect(await s.done).toBe(0);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(of('exited')).toEqual([]);
    // Nothing was started again afterwards, even past the restart delay.
    await new Promise((r) => setTimeout(r, 200));
    expect(of('started')).toHaveLength(2);
    expect(s.pid('a')).toBeUndefined();
  });
});

describe('backend ports', () => {
  it('takes a set port as it is, rejects a malformed one, and picks a free one when none is set', async () => {
    expect(await backendPort('STT_CPU_PORT', { STT_CPU_PORT: '8001' })).toBe(8001);
    await expect(backendPort('STT_CPU_PORT', { STT_CPU_PORT: 'eighty' })).rejects.toThrow('STT_CPU_PORT must be a port number (1-65535), got "eighty"');
    await expect(backendPort('STT_GPU_PORT', { STT_GPU_PORT: '70000' })).rejects.toThrow(/STT_GPU_PORT must be a port number/);
    const picked = await backendPort('STT_CPU_PORT', {});
    expect(picked).toBeGreaterThan(0);
    // Free indeed: it can be bound at once.
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((r) => server.listen(picked, '127.0.0.1', r));
    // And a port in use is not picked again while it is held.
    expect(await freePort()).not.toBe(picked);
    await new Promise((r) => server.close(r));
  });
});
