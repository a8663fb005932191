/**
 * `npm start`: the local stack on this PC: transcription (Whisper base) and speech detection
 * (Silero, checked by Whisper tiny). Each runs as its own process (as in compose), and Ctrl-C
 * stops them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Member {
  name: string;
  entry: string;
  env: Record<string, string>;
}

const root = fileURLToPath(new URL('..', import.meta.url));
const host = process.env.HOST ?? '127.0.0.1';
const members: Member[] = [
  { name: 'stt_cpu_ws', entry: 'stt/cpu_ws/src/main.ts', env: { PORT: process.env.STT_CPU_PORT ?? '8001' } },
  { name: 'stt_tiny_ws', entry: 'stt/tiny_ws/src/main.ts', env: { PORT: process.env.STT_TINY_PORT ?? '8003' } },
];

const children: ChildProcess[] = [];
let stopping = false;

function stopAll(code: number) {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 3000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))))).then(() => process.exit(code));
}

for (const m of members) {
  const child = spawn(process.execPath, ['--import', 'tsx', m.entry], {
    cwd: root,
    env: { ...process.env, HOST: host, ...m.env },
    stdio: 'inherit',
  });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${m.name} exited (${signal ?? code}); stopping the stack`);
      stopAll(code || 1);
    }
  });
}
const paths: Record<string, string> = { stt_cpu_ws: '/ws/transcribe', stt_tiny_ws: '/ws/detect' };
console.error(`starting: ${members.map((m) => `${m.name} on ws://${host}:${m.env.PORT}${paths[m.name] ?? ''}`).join(', ')}`);
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));
