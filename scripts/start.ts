/**
 * `npm start`: the whole local stack on this PC: the proxy with the control panel (one address
 * for everything), speech (Whisper base for transcription, Silero checked by Whisper tiny for
 * detection) and GPU transcription when an NVIDIA GPU is present. A service that exits is started
 * again (see supervisor.ts); Ctrl-C stops them all.
 *
 * Unlike compose, CPU transcription and detection share one process: one scheduler runs one
 * whisper.cpp computation at a time with every core, finals first, so the detector's tiny checks
 * and speculative decodes never slow a final (two computations on two cores slowed each other
 * 70x, and a core held back for detection halved the final's speed).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// The constant alone, from its module: the stack's own process loads no engine.
import { ALLOCATOR_ENV } from '../stt/core/src/engine/allocator.js';
import { CONFIGURATION_EXIT_CODE } from '../stt/core/src/settings.js';
import { backendPort } from './ports.js';
import { Supervisor, type MemberSpec } from './supervisor.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const host = process.env.HOST ?? '127.0.0.1';
const publicPort = process.env.PORT ?? '8080';
const hasGpu = existsSync('/dev/nvidia0');
// HTTPS on the public port (docs/deployment.md "TLS"): the proxy reads and checks the files. npm runs this
// from the package root; a relative path means the folder `npm start` was typed in.
const tls = Object.fromEntries(
  ['STT_TLS_CERT', 'STT_TLS_KEY'].filter((v) => process.env[v]).map((v) => [v, resolve(process.env.INIT_CWD ?? process.cwd(), process.env[v]!)]),
);
const scheme = tls.STT_TLS_CERT && tls.STT_TLS_KEY ? 'https' : 'http';
let cpuPort: number;
let gpuPort: number;
try {
  // Backends listen on free ports unless told otherwise, so a second stack (or the tests) never
  // collides with a running one; only the proxy's address is fixed.
  cpuPort = await backendPort('STT_CPU_PORT');
  gpuPort = hasGpu ? await backendPort('STT_GPU_PORT') : 0;
} catch (error) {
  process.stderr.write(`error: ${(error as Error).message}\n`);
  process.exit(1);
}

const member = (name: string, entry: string, env: Record<string, string>, essential = false): MemberSpec => ({
  name,
  command: process.execPath,
  args: ['--import', 'tsx', entry],
  cwd: root,
  // Each service listens where the proxy expects it; the proxy alone takes HOST.
  env: { ...process.env, ...allocatorEnv, HOST: name === 'stt_proxy' ? host : '127.0.0.1', ...env },
  essential,
});

// The allocator settings the images give every service too, unless the environment chose its own.
const allocatorEnv = Object.fromEntries(Object.entries(ALLOCATOR_ENV).map(([name, value]) => [name, process.env[name] ?? value]));
// The proxy and the services share it, so a session the proxy reconnects keeps its admission (a new one per start).
const relaySecret = { STT_RELAY_SECRET: process.env.STT_RELAY_SECRET ?? randomBytes(24).toString('base64url') };
const members = [
  member('stt_cpu_ws', 'stt/cpu_ws/src/main.ts', { ...relaySecret, PORT: String(cpuPort), STT_ROLES: 'transcribe,detect' }),
  ...(hasGpu ? [member('stt_gpu_ws', 'stt/gpu_ws/src/main.ts', { ...relaySecret, PORT: String(gpuPort) })] : []),
  member(
    'stt_proxy',
    'stt/proxy/src/main.ts',
    {
      PORT: publicPort,
      ...tls,
      ...relaySecret,
      STT_CPU_URL: `http://127.0.0.1:${cpuPort}`,
      STT_GPU_URL: hasGpu ? `http://127.0.0.1:${gpuPort}` : '',
      STT_DETECT_URL: `http://127.0.0.1:${cpuPort}`,
    },
    true,
  ),
];

const stack = new Supervisor(members, { permanentExitCodes: [CONFIGURATION_EXIT_CODE] });
stack.start();
console.error(
  `starting the stack: control panel ${scheme}://${host}:${publicPort}/; stt_cpu_ws on port ${cpuPort}` +
    (hasGpu ? `, stt_gpu_ws on port ${gpuPort}` : '') +
    '. A service that exits is restarted; Ctrl-C stops them all.',
);
process.on('SIGINT', () => void stack.stop(0));
process.on('SIGTERM', () => void stack.stop(0));
process.exit(await stack.done);
