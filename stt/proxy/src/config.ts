import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { envOption as opt, intArg as int, loadApiKeys, parseWithEnv } from '@vtuber-stt/core';

export interface ProxyConfig {
  host: string;
  port: number;
  /** Each a pool: one or more URLs; a host name with several addresses counts as one member per address. */
  cpuUrls: string[];
  gpuUrls: string[];
  detectUrl?: string;
  statePath: string;
  panelDir: string;
  maxBodyBytes: number;
  maxReplayBytes: number;
  /** WebSocket sessions at once, all routes together. */
  maxConnections: number;
  /** Largest audio frame a session may send (larger ones are refused with an error, the session goes on). */
  maxFrameBytes: number;
  /** REST uploads: longest audio accepted, and how long a decoder may run on one file. */
  maxAudioSeconds: number;
  decodeTimeoutMs: number;
  /** The ffmpeg executable that decodes compressed uploads. */
  ffmpegPath: string;
  pollMs: number;
  /** Keys every route but /health and /ready asks for (none: no checks). */
  apiKeys: string[];
  /** The key this proxy presents to backends that ask for one. */
  backendApiKey?: string;
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
/** One or more http(s) URLs, separated by commas or spaces. */
function urlList(name: string) {
  const one = url(name);
  return (value: string) => value.split(/[\s,]+/).filter(Boolean).map((v) => one(v)!);
}

export function parseProxyConfig(argv = process.argv, env = process.env): ProxyConfig {
  const program = new Command('stt_proxy')
    .description('stt_proxy: one address for transcription (CPU/GPU routing with failover), detection, REST, and the control panel')
    .addOption(opt('--host <host>', 'address to listen on', 'HOST').default('127.0.0.1'))
    .addOption(opt('--port <port>', 'port to listen on', 'PORT', int('PORT')).default(8080))
    .addOption(opt('--cpu-url <urls>', 'CPU transcription services: one or more URLs (a name with several addresses is one member each)', 'STT_CPU_URL', urlList('STT_CPU_URL')).default(['http://127.0.0.1:8001']))
    .addOption(opt('--gpu-url <urls>', 'GPU transcription services, the same way (empty: none)', 'STT_GPU_URL', urlList('STT_GPU_URL')).default([]))
    .addOption(opt('--detect-url <url>', 'speech detection service (empty: none)', 'STT_DETECT_URL', url('STT_DETECT_URL')).default('http://127.0.0.1:8003'))
    .addOption(opt('--state <file>', 'where the GPU toggle is kept', 'STT_PROXY_STATE').default(join(homedir(), '.cache', 'vtuber-stt', 'proxy-state.json')))
    .addOption(opt('--panel-dir <dir>', 'built control panel to serve at /', 'STT_PANEL_DIR').default(DEFAULT_PANEL))
    .addOption(opt('--max-body-bytes <n>', 'largest REST upload', 'STT_PROXY_MAX_BODY_BYTES', int('STT_PROXY_MAX_BODY_BYTES')).default(50 * 1024 * 1024))
    .addOption(opt('--max-replay-bytes <n>', 'unanswered audio kept per session for failover', 'STT_PROXY_MAX_REPLAY_BYTES', int('STT_PROXY_MAX_REPLAY_BYTES')).default(16 * 1024 * 1024))
    .addOption(opt('--max-connections <n>', 'WebSocket sessions at once (all routes)', 'STT_PROXY_MAX_CONNECTIONS', int('STT_PROXY_MAX_CONNECTIONS')).default(256))
    .addOption(opt('--max-frame-bytes <n>', 'largest audio frame a WebSocket session may send', 'STT_PROXY_MAX_FRAME_BYTES', int('STT_PROXY_MAX_FRAME_BYTES')).default(1024 * 1024))
    .addOption(opt('--max-audio-seconds <n>', 'longest REST upload, in seconds of audio', 'STT_PROXY_MAX_AUDIO_SECONDS', int('STT_PROXY_MAX_AUDIO_SECONDS')).default(600))
    .addOption(opt('--decode-timeout-ms <ms>', 'longest time ffmpeg may decode one upload', 'STT_PROXY_DECODE_TIMEOUT_MS', int('STT_PROXY_DECODE_TIMEOUT_MS')).default(30_000))
    .addOption(opt('--ffmpeg <path>', 'ffmpeg executable for compressed uploads (mp3, m4a, webm, ogg, flac, ...)', 'STT_FFMPEG').default('ffmpeg'))
    .addOption(opt('--poll-ms <ms>', 'backend status poll interval', 'STT_PROXY_POLL_MS', int('STT_PROXY_POLL_MS')).default(2000))
    .addOption(opt('--api-keys <keys>', 'comma-separated API keys that every route but /health and /ready asks for', 'STT_API_KEYS'))
    .addOption(opt('--api-key-file <file>', 'a file of API keys, one per line (Docker or Kubernetes secret)', 'STT_API_KEY_FILE'))
    .addOption(opt('--backend-api-key <key>', 'the key to present to backends that ask for one (default: the first of STT_API_KEYS)', 'STT_BACKEND_API_KEY'))
    .addOption(opt('--log-level <level>', 'pino log level', 'LOG_LEVEL').default('info'));
  const o = parseWithEnv(program, argv, env);
  const apiKeys = loadApiKeys(o.apiKeys as string | undefined, o.apiKeyFile as string | undefined);
  return {
    host: o.host as string,
    port: o.port as number,
    cpuUrls: o.cpuUrl as string[],
    gpuUrls: o.gpuUrl as string[],
    detectUrl: o.detectUrl as string | undefined,
    statePath: resolve(o.state as string),
    panelDir: resolve(o.panelDir as string),
    maxBodyBytes: o.maxBodyBytes as number,
    maxReplayBytes: o.maxReplayBytes as number,
    maxConnections: o.maxConnections as number,
    maxFrameBytes: o.maxFrameBytes as number,
    maxAudioSeconds: o.maxAudioSeconds as number,
    decodeTimeoutMs: o.decodeTimeoutMs as number,
    ffmpegPath: o.ffmpeg as string,
    pollMs: o.pollMs as number,
    apiKeys,
    backendApiKey: (o.backendApiKey as string | undefined) || apiKeys[0],
    logLevel: o.logLevel as string,
  };
}
