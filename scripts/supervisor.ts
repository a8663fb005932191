/**
 * Keeps a set of child processes running for `npm start`: a member that exits is started again
 * after a backoff, and one that keeps exiting is given up (its last output lines say why) while
 * the rest stays up. A member that stops on its own configuration (an exit status in
 * `permanentExitCodes`) is not restarted at all: the stack stops at once with its message.
 * Stopping (Ctrl-C) ends every member and starts none again.
 *
 * Restarting is enough to heal the stack because every member comes back on the port it had
 * (the ports are chosen before the first start) and the proxy replays the sessions of a backend
 * that returns.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface MemberSpec {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Without it the stack is useless (the proxy: the one address), so giving it up stops the stack. */
  essential?: boolean;
}

export interface SupervisorOptions {
  /** Delay before the first restart; it doubles with each exit inside `windowMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Crash budget: this many exits within `windowMs` and the member is given up. */
  maxExits?: number;
  windowMs?: number;
  /** After stop(), how long members get to exit on SIGTERM before SIGKILL. */
  graceMs?: number;
  /** Output lines of a member's last run quoted when it is given up. */
  tailLines?: number;
  /**
   * Exit statuses that say a restart would meet the same error (a wrong setting: EX_CONFIG, 78):
   * such a member is given up at its first exit, and the whole stack stops with its message.
   */
  permanentExitCodes?: number[];
  /** The supervisor's own messages (default: stderr). */
  log?: (line: string) => void;
  /** Where members' output goes (default: this process's stdout and stderr). */
  forward?: (name: string, stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  onEvent?: (event: SupervisorEvent) => void;
}

export type SupervisorEvent =
  | { type: 'started'; name: string; pid: number; run: number }
  | { type: 'exited'; name: string; code: number | null; signal: NodeJS.Signals | null; restartInMs?: number }
  | { type: 'gave_up'; name: string; exits: number; tail: string[]; permanent?: boolean }
  | { type: 'stopped'; code: number };

interface Member {
  spec: MemberSpec;
  child?: ChildProcess;
  run: number;
  /** When the member exited, for the crash budget. */
  exits: number[];
  tail: string[];
  partial: string;
  restartTimer?: NodeJS.Timeout;
  gaveUp: boolean;
}

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

export class Supervisor {
  private readonly members: Member[];
  private readonly options: Required<Omit<SupervisorOptions, 'onEvent'>> & Pick<SupervisorOptions, 'onEvent'>;
  private stopping?: Promise<number>;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the stack has stopped (stop(), or an essential member given up). */
  readonly done: Promise<number>;

  constructor(specs: MemberSpec[], options: SupervisorOptions = {}) {
    this.members = specs.map((spec) => ({ spec, run: 0, exits: [], tail: [], partial: '', gaveUp: false }));
    this.options = {
      initialDelayMs: 500,
      maxDelayMs: 10_000,
      maxExits: 5,
      windowMs: 60_000,
      graceMs: 5000,
      tailLines: 20,
      permanentExitCodes: [],
      log: (line) => process.stderr.write(`${line}\n`),
      forward: (_name, stream, chunk) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk),
      ...options,
    };
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  start(): void {
    for (const m of this.members) this.launch(m);
  }

  /** The pid of a member's current process, if it is running. */
  pid(name: string): number | undefined {
    const child = this.members.find((m) => m.spec.name === name)?.child;
    return child && alive(child) ? child.pid : undefined;
  }

  /** Ends every member (SIGTERM, then SIGKILL after the grace period) and restarts none. */
  stop(code = 0): Promise<number> {
    this.stopping ??= this.stopAll(code);
    return this.stopping;
  }

  private async stopAll(code: number): Promise<number> {
    for (const m of this.members) clearTimeout(m.restartTimer);
    const running = this.members.map((m) => m.child).filter((c): c is ChildProcess => c !== undefined && alive(c));
    for (const c of running) c.kill('SIGTERM');
    const kill = setTimeout(() => {
      for (const c of running) if (alive(c)) c.kill('SIGKILL');
    }, this.options.graceMs);
    await Promise.all(running.map((c) => (alive(c) ? new Promise((r) => c.once('exit', r)) : undefined)));
    clearTimeout(kill);
    this.options.onEvent?.({ type: 'stopped', code });
    this.resolveDone(code);
    return code;
  }

  private launch(m: Member): void {
    m.run++;
    m.tail = [];
    m.partial = '';
    const child = spawn(m.spec.command, m.spec.args, { cwd: m.spec.cwd, env: m.spec.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    m.child = child;
    // Piped rather than inherited so the last lines can be quoted when the member is given up.
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream].on('data', (chunk: Buffer) => {
        this.options.forward(m.spec.name, stream, chunk);
        this.remember(m, chunk.toString());
      });
    }
    child.once('error', (error) => this.remember(m, `${error.message}\n`));
    child.once('exit', (code, signal) => this.exited(m, child, code, signal));
    if (child.pid !== undefined) {
      this.options.log(`${m.spec.name} pid ${child.pid}${m.run > 1 ? ` (restart ${m.run - 1})` : ''}`);
      this.options.onEvent?.({ type: 'started', name: m.spec.name, pid: child.pid, run: m.run });
    }
  }

  /** The member's last output lines, with an unfinished last line. */
  private tailOf(m: Member): string[] {
    return m.partial.trim() ? [...m.tail, m.partial] : m.tail;
  }

  private remember(m: Member, text: string): void {
    const lines = (m.partial + text).split('\n');
    m.partial = lines.pop() ?? '';
    m.tail.push(...lines.filter((l) => l.trim() !== ''));
    if (m.tail.length > this.options.tailLines) m.tail.splice(0, m.tail.length - this.options.tailLines);
  }

  private exited(m: Member, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (m.child !== child) return;
    // Ctrl-C reaches the members too (one process group): their exits are the stop, not a crash.
    if (this.stopping) return;
    const how = signal ?? `code ${code}`;
    if (code !== null && this.options.permanentExitCodes.includes(code)) {
      const tail = this.tailOf(m);
      m.gaveUp = true;
      this.options.onEvent?.({ type: 'exited', name: m.spec.name, code, signal });
      this.options.log(
        `${m.spec.name} stopped on its configuration (${how}), which a restart would meet again; stopping the stack. ` +
          `Its last output:\n${tail.map((l) => `  | ${l}`).join('\n') || '  (none)'}`,
      );
      this.options.onEvent?.({ type: 'gave_up', name: m.spec.name, exits: 1, tail, permanent: true });
      void this.stop(code);
      return;
    }
    const now = Date.now();
    m.exits = [...m.exits.filter((t) => now - t < this.options.windowMs), now];
    if (m.exits.length >= this.options.maxExits) {
      const tail = this.tailOf(m);
      m.gaveUp = true;
      this.options.onEvent?.({ type: 'exited', name: m.spec.name, code, signal });
      this.options.log(
        `${m.spec.name} exited (${how}) ${m.exits.length} times within ${Math.round(this.options.windowMs / 1000)} s; giving it up` +
          (m.spec.essential ? ', and with it the stack' : '; the rest of the stack stays up') +
          `. Its last output:\n${tail.map((l) => `  | ${l}`).join('\n') || '  (none)'}`,
      );
      this.options.onEvent?.({ type: 'gave_up', name: m.spec.name, exits: m.exits.length, tail });
      if (m.spec.essential) void this.stop(1);
      return;
    }
    // Exits close together back off; a member that ran for a whole window starts again quickly.
    const delay = Math.min(this.options.initialDelayMs * 2 ** (m.exits.length - 1), this.options.maxDelayMs);
    this.options.log(`${m.spec.name} exited (${how}); restarting it in ${delay} ms (${m.exits.length} exit${m.exits.length > 1 ? 's' : ''} within ${Math.round(this.options.windowMs / 1000)} s; given up at ${this.options.maxExits})`);
    this.options.onEvent?.({ type: 'exited', name: m.spec.name, code, signal, restartInMs: delay });
    m.restartTimer = setTimeout(() => {
      if (!this.stopping) this.launch(m);
    }, delay);
  }
}
