/**
 * The stack as `npm start` runs it (scripts/start.ts, minus the panel build, which the proxy does
 * not need), on free ports. Relies only on the env names start.ts reads and on the proxy's
 * /ready and /api/status, so it keeps working however start.ts splits the services into processes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/processes.js';

export interface Stack {
  port: number;
  /** Where stt_cpu_ws listens (loopback), for its own /metrics. */
  cpuPort: number;
  /** start.ts's pid, which is also its process group: every service of the stack is in it. */
  pid: number;
  /** What the stack printed (last 20 000 characters), for errors and the report. */
  output(): string;
  /** Resident memory (MiB) of every process in the stack, by the service it runs. */
  rss(): Record<string, number>;
  stop(): Promise<void>;
}

/** Every process in a process group, by the service it runs (`stt_cpu_ws`, `stt_proxy`, `supervisor`). */
export function groupRss(group: number): Record<string, number> {
  const out = execFileSync('ps', ['-eo', 'pgid=,rss=,args=']).toString();
  const byName: Record<string, number> = {};
  for (const line of out.trim().split('\n')) {
    const [, pgid, kb, args] = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line) ?? [];
    if (Number(pgid) !== group || !kb || !args) continue;
    const name = /stt\/(\w+)\/src\/main\.ts/.exec(args)?.[1] ?? (/scripts\/start\.ts/.test(args) ? 'supervisor' : undefined);
    if (name) byName[name === 'supervisor' ? name : `stt_${name}`] = Math.round(Number(kb) / 1024);
  }
  return byName;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const READY_TIMEOUT_MS = 180_000;
const KEEP_OUTPUT = 20_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.json().catch(() => undefined) };
  } catch {
    return { status: 0, body: undefined };
  }
}

/** Ready means: the proxy says so, and its status shows both transcription (cpu) and detection ready. */
async function isReady(port: number): Promise<boolean> {
  const ready = await getJson(`http://127.0.0.1:${port}/ready`);
  if (ready.status !== 200) return false;
  const status = (await getJson(`http://127.0.0.1:${port}/api/status`)).body as { backends?: Record<string, { state?: string }> } | undefined;
  return status?.backends?.cpu?.state === 'ready' && status.backends.detect?.state === 'ready';
}

/** Kills the whole process group: start.ts and every service it spawned. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // Already gone.
  }
}

export async function startStack(env: Record<string, string>): Promise<Stack> {
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [port, cpuPort, tinyPort] = [...ports] as [number, number, number];
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    // Its own process group, so one signal reaches every service however start.ts nests them.
    detached: true,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(port), STT_CPU_PORT: String(cpuPort), STT_TINY_PORT: String(tinyPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-KEEP_OUTPUT);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // A bench that dies (Ctrl-C, an exception) must not leave services spinning on the cores.
  const onExit = () => killGroup(child, 'SIGKILL');
  process.once('exit', onExit);

  const stop = async () => {
    process.off('exit', onExit);
    killGroup(child, 'SIGTERM');
    const timeout = sleep(5000).then(() => 'timeout' as const);
    if ((await Promise.race([exited, timeout])) === 'timeout') killGroup(child, 'SIGKILL');
    // start.ts may exit before its children: make sure nothing of the group survives.
    killGroup(child, 'SIGKILL');
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await isReady(port))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`the stack exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${out}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the stack was not ready after ${READY_TIMEOUT_MS / 1000} s:\n${out}`);
    }
    await sleep(250);
  }
  return { port, cpuPort, pid: child.pid!, output: () => out, rss: () => groupRss(child.pid!), stop };
}
