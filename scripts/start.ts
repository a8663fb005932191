/**
 * `npm start`: the whole local stack on this PC: the proxy with the control panel (one address
 * for everything), speech (Whisper base for transcription, Silero checked by Whisper tiny for
 * detection) and GPU transcription when an NVIDIA GPU is present. Ctrl-C stops them all.
 *
 * Unlike compose, CPU transcription and detection share one process: one scheduler runs one
 * whisper.cpp computation at a time with every core, finals first, so the detector's tiny checks
 * and speculative decodes never slow a final (two computations on two cores slowed each other
 * 70x, and a core held back for detection halved the final's speed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Member {
  name: string;
  entry: string;
  env: Record<string, string>;
  /** An optional member that fails is reported and the rest of the stack keeps running. */
  optional?: boolean;
}

const root = fileURLToPath(new URL('..', import.meta.url));
const host = process.env.HOST ?? '127.0.0.1';
const port = (name: string, fallback: number) => process.env[name] ?? String(fallback);
const cpuPort = port('STT_CPU_PORT', 8001);
const gpuPort = port('STT_GPU_PORT', 8002);
const hasGpu = existsSync('/dev/nvidia0');

const members: Member[] = [
  { name: 'stt_cpu_ws', entry: 'stt/cpu_ws/src/main.ts', env: { PORT: cpuPort, STT_ROLES: 'transcribe,detect' } },
  ...(hasGpu ? [{ name: 'stt_gpu_ws', entry: 'stt/gpu_ws/src/main.ts', env: { PORT: gpuPort }, optional: true }] : []),
  {
    name: 'stt_proxy',
    entry: 'stt/proxy/src/main.ts',
    env: {
      PORT: port('PORT', 8080),
      STT_CPU_URL: `http://127.0.0.1:${cpuPort}`,
      STT_GPU_URL: hasGpu ? `http://127.0.0.1:${gpuPort}` : '',
      STT_DETECT_URL: `http://127.0.0.1:${cpuPort}`,
    },
  },
];

const children: ChildProcess[] = [];
let stopping = false;

function stopAll(code: number) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 3000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))))).then(() => process.exit(code));
}

for (const m of members) {
  const child = spawn(process.execPath, ['--import', 'tsx', m.entry], {
    cwd: root,
    // Each service listens where the proxy expects it; the proxy alone takes HOST.
    env: { ...process.env, HOST: m.name === 'stt_proxy' ? host : '127.0.0.1', ...m.env },
    stdio: 'inherit',
  });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (stopping) return;
    if (m.optional) {
      console.error(`${m.name} exited (${signal ?? code}); the stack goes on without it`);
      return;
    }
    console.error(`${m.name} exited (${signal ?? code}); stopping the stack`);
    stopAll(code || 1);
  });
}
console.error(`starting the stack: control panel http://${host}:${members.at(-1)!.env.PORT}/ (${members.map((m) => m.name).join(', ')})`);
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));
