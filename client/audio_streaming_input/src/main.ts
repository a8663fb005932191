import pino from 'pino';
import { runCli } from './cli.js';

// The command: the client on this process's streams, environment and Ctrl-C.
process.exit(
  await runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    log: pino.destination(2),
    env: process.env,
    onInterrupt: (stop) => process.once('SIGINT', stop),
  }),
);
