import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { envOption as opt, intArg as int, parseWithEnv } from '@vtuber-stt/core';

export interface ProxyConfig {
  host: string;
  port: number;
  cpuUrl: string;
  gpuUrl?: string;
  detectUrl?: string;
  statePath: string;
  panelDir: string;
  maxBodyBytes: number;
  maxReplayBytes: number;
  pollMs: number;
  logLevel: string;
}

const DEFAULT_PANEL = fileURLToPath(new URL('../../../control-panel/dist', import.meta.url));

function url(name: string) {
  return (value: string) => {
    if (value === '') return undefined;
    try {
      const u = new URL(value);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
      return value.replace(/\/+$/, '');
    } catch {
      throw new Error(`${name} must be an http:// URL (got "${value}")`);
    }
  };
}
export function parseProxyConfig(argv = process.argv, env = process.env): ProxyConfig {
  const program = new Command('stt_proxy')
    .description('stt_proxy: one address for transcription (CPU/GPU routing with failover), detection, REST, and the control panel')
    .addOption(opt('--host <host>', 'address to listen on', 'HOST').default('127.0.0.1'))
    .addOption(opt('--port <port>', 'port to listen on', 'PORT', int('PORT')).default(8080))
    .addOption(opt('--cpu-url <url>', 'CPU transcription service', 'STT_CPU_URL', url('STT_CPU_URL')).default('http://127.0.0.1:8001'))
    .addOption(opt('--gpu-url <url>', 'GPU transcription service (empty: none)', 'STT_GPU_URL', url('STT_GPU_URL')))
    .addOption(opt('--detect-url <url>', 'speech detection service (empty: none)', 'STT_DETECT_URL', url('STT_DETECT_URL')).default('http://127.0.0.1:8003'))
    .addOption(opt('--state <file>', 'where the GPU toggle is kept', 'STT_PROXY_STATE').default(join(homedir(), '.cache', 'vtuber-stt', 'proxy-state.json')))
    .addOption(opt('--panel-dir <dir>', 'built control panel to serve at /', 'STT_PANEL_DIR').default(DEFAULT_PANEL))
    .addOption(opt('--max-body-bytes <n>', 'largest REST upload', 'STT_PROXY_MAX_BODY_BYTES', int('STT_PROXY_MAX_BODY_BYTES')).default(50 * 1024 * 1024))
    .addOption(opt('--max-replay-bytes <n>', 'unanswered audio kept per session for failover', 'STT_PROXY_MAX_REPLAY_BYTES', int('STT_PROXY_MAX_REPLAY_BYTES')).default(16 * 1024 * 1024))
    .addOption(opt('--poll-ms <ms>', 'backend status poll interval', 'STT_PROXY_POLL_MS', int('STT_PROXY_POLL_MS')).default(2000))
    .addOption(opt('--log-level <level>', 'pino log level', 'LOG_LEVEL').default('info'));
  const o = parseWithEnv(program, argv, env);
  return {
    host: o.host as string,
    port: o.port as number,
    cpuUrl: o.cpuUrl as string,
    gpuUrl: o.gpuUrl as string | undefined,
    detectUrl: o.detectUrl as string | undefined,
    statePath: resolve(o.state as string),
    panelDir: resolve(o.panelDir as string),
    maxBodyBytes: o.maxBodyBytes as number,
    maxReplayBytes: o.maxReplayBytes as number,
    pollMs: o.pollMs as number,
    logLevel: o.logLevel as string,
  };
}
