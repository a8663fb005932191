import { availableParallelism, loadavg } from 'node:os';

/**
 * A benchmark's start: its flags read (a wrong one: the message and exit 2), its log prefix, and a
 * warning when the machine is already busy, since whisper saturates the cores and anything else
 * running skews every timing.
 */
export function benchStart<T>(name: string, parse: (argv: string[]) => T): { args: T; log: (line: string) => void; loadBefore: number } {
  let args: T;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  const log = (line: string) => console.error(`[${name}] ${line}`);
  const loadBefore = loadavg()[0]!;
  if (loadBefore > availableParallelism() / 2) log(`warning: load average ${loadBefore.toFixed(2)} on ${availableParallelism()} cores: other work will skew the timings`);
  return { args, log, loadBefore };
}
