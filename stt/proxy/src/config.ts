import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadTls, type TlsFiles } from './tls.js';
import { DEFAULT_MAX_KEY_FAILURES, DEFAULT_RETRY_POLICY, heartbeatSettings, integer, relaySecretSetting, list, hostList, loadApiKeys, originList, readSettings, setting, type Heartbeat } from '@vtuber-stt/core';

export interface ProxyConfig {
  host: string;
  port: number;
  /** When set, the port speaks HTTPS and WSS with this certificate and key (STT_TLS_CERT, STT_TLS_KEY). */
  tls?: TlsFiles;
  /** Each a pool: one or more URLs; a host name with several addresses counts as one member per address. */
  cpuUrls: string[];
  gpuUrls: string[];
  detectUrl?: string;
  statePath: string;
  panelDir: string;
  maxBodyBytes: number;
  /** Longest time a client may take to send one HTTP request, headers and body: a stalled or trickled upload is cut (408). */
  bodyTimeoutMs: number;
  maxReplayBytes: number;
  /** A relayed session that owes nothing and got no frame for this long lets its backend connection go (the next frame reopens it). */
  upstreamIdleMs: number;
  /** How a relayed session waits to reach a backend again: the first wait (doubling per attempt), and the wait after a round of attempts ran out. */
  retry: { retryDelayMs: number; exhaustedDelayMs: number };
  /** How long a request or session whose member died (or that finds none ready) is held for one to come back, before it is answered with an error. */
  holdMs: number;
  /** REST and SSE requests held at once (each with its upload) while no member is ready; past it, 503 overloaded at once. */
  maxHeldRequests: number;
  /** Shared with the services: a reconnection of a session a member admitted is not refused for load. */
  relaySecret?: string;
  /** WebSocket sessions at once, all routes together. */
  maxConnections: number;
  /** /ws/events listeners at once: their own limit, so listeners never take the microphone's slots. */
  maxListeners: number;
  /** Largest audio frame a session may send (larger ones are refused with an error, the session goes on). */
  maxFrameBytes: number;
  /** Pings to every WebSocket client, and how long its pong may take. */
  heartbeat: Heartbeat;
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
  /** Where committed turns of named sessions are POSTed, and how. */
  webhook?: { url: string; secret?: string; timeoutMs: number; maxQueue: number; retryDelayMs: number; maxDelayMs: number };
  /** Keys that may only listen to sessions (/ws/events, /captions). */
  listenKeys: string[];
  /** Wrong keys one address may present per minute before it is answered 429 (0: no limit). */
  maxKeyFailures: number;
  /** Without keys: host names served besides localhost and IP addresses, and other sites' origins allowed. */
  allowedHosts: string[];
  allowedOrigins: string[];
  logLevel: string;
}

const DEFAULT_PANEL = fileURLToPath(new URL('../../../control-panel/dist', import.meta.url));

/** An http(s) URL, without a trailing slash. */
const httpUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http:// URL')
  .transform((v) => v.replace(/\/+$/, ''));

/** Every setting of the proxy, with its variable, flag and check. */
export const PROXY_SETTINGS = {
  host: setting('HOST', '--host <host>', 'address to listen on', z.string().min(1).default('127.0.0.1')),
  port: setting('PORT', '--port <port>', 'port to listen on', integer(0, 65535).default(8080)),
  tlsCert: setting('STT_TLS_CERT', '--tls-cert <file>', 'PEM certificate (chain): with STT_TLS_KEY the port speaks HTTPS and WSS (see docs/deployment.md "TLS")', z.string().optional()),
  tlsKey: setting('STT_TLS_KEY', '--tls-key <file>', 'PEM private key of STT_TLS_CERT', z.string().optional()),
  cpuUrls: setting('STT_CPU_URL', '--cpu-url <urls>', 'CPU transcription services: one or more URLs (a name with several addresses is one member each)', list(httpUrl).default(['http://127.0.0.1:8001'])),
  gpuUrls: setting('STT_GPU_URL', '--gpu-url <urls>', 'GPU transcription services, the same way (empty: none)', list(httpUrl).default([])),
  detectUrl: setting('STT_DETECT_URL', '--detect-url <url>', 'speech detection service', httpUrl.default('http://127.0.0.1:8003')),
  state: setting('STT_PROXY_STATE', '--state <file>', 'where the GPU toggle is kept', z.string().default(join(homedir(), '.cache', 'vtuber-stt', 'proxy-state.json'))),
  panelDir: setting('STT_PANEL_DIR', '--panel-dir <dir>', 'built control panel to serve at /', z.string().default(DEFAULT_PANEL)),
  maxBodyBytes: setting('STT_PROXY_MAX_BODY_BYTES', '--max-body-bytes <n>', 'largest REST upload', integer(1).default(50 * 1024 * 1024)),
  bodyTimeoutMs: setting('STT_PROXY_BODY_TIMEOUT_MS', '--body-timeout-ms <ms>', 'longest time a client may take to send one HTTP request, headers and body (past it: 408 and the connection closed)', integer(50).default(30_000)),
  maxReplayBytes: setting('STT_PROXY_MAX_REPLAY_BYTES', '--max-replay-bytes <n>', 'unanswered audio kept per session for failover', integer(1).default(16 * 1024 * 1024)),
  upstreamIdleMs: setting('STT_PROXY_UPSTREAM_IDLE_MS', '--upstream-idle-ms <ms>', 'a WebSocket session that owes nothing and sent no frame for this long releases its backend connection (the next frame reopens it)', integer(10).default(15_000)),
  retryMs: setting('STT_PROXY_RETRY_MS', '--retry-ms <ms>', 'a relayed session that lost its backend waits this long before trying again, doubling per attempt', integer(1).default(DEFAULT_RETRY_POLICY.retryDelayMs)),
  retryRoundMs: setting('STT_PROXY_RETRY_ROUND_MS', '--retry-round-ms <ms>', 'a relayed session out of attempts waits this long before its next round', integer(1).default(DEFAULT_RETRY_POLICY.exhaustedDelayMs)),
  holdMs: setting('STT_PROXY_HOLD_MS', '--hold-ms <ms>', 'a request or session whose transcription member died, or that finds none ready, is held this long for one to come back (a restart) and then answered, in order; past it, the error', integer(0).default(15_000)),
  maxHeldRequests: setting('STT_PROXY_MAX_HELD_REQUESTS', '--max-held-requests <n>', 'REST and SSE requests held at once while no transcription member is ready (STT_PROXY_HOLD_MS); past it a request is answered 503 overloaded at once', integer(1).default(32)),
  relaySecret: relaySecretSetting('shared with the transcription services (their STT_RELAY_SECRET): a session this proxy reconnects after an idle release or a failover presents it, so a member admits it past STT_MAX_BUSY; unset: reconnections go through admission like new sessions'),
  maxConnections: setting('STT_PROXY_MAX_CONNECTIONS', '--max-connections <n>', 'WebSocket sessions at once (all routes)', integer(1).default(256)),
  maxListeners: setting('STT_PROXY_MAX_LISTENERS', '--max-listeners <n>', '/ws/events listeners at once, counted apart from STT_PROXY_MAX_CONNECTIONS', integer(1).default(64)),
  maxFrameBytes: setting('STT_PROXY_MAX_FRAME_BYTES', '--max-frame-bytes <n>', 'largest audio frame a WebSocket session may send', integer(2).default(1024 * 1024)),
  ...heartbeatSettings(),
  maxAudioSeconds: setting('STT_PROXY_MAX_AUDIO_SECONDS', '--max-audio-seconds <n>', 'longest REST upload, in seconds of audio', integer(1).default(600)),
  decodeTimeoutMs: setting('STT_PROXY_DECODE_TIMEOUT_MS', '--decode-timeout-ms <ms>', 'longest time ffmpeg may decode one upload', integer(100).default(30_000)),
  ffmpeg: setting('STT_FFMPEG', '--ffmpeg <path>', 'ffmpeg executable for compressed uploads (mp3, m4a, webm, ogg, flac, ...)', z.string().min(1).default('ffmpeg')),
  pollMs: setting('STT_PROXY_POLL_MS', '--poll-ms <ms>', 'backend status poll interval', integer(50).default(2000)),
  apiKeys: setting('STT_API_KEYS', '--api-keys <keys>', 'comma-separated API keys that every route but /health and /ready asks for', z.string().optional()),
  apiKeyFile: setting('STT_API_KEY_FILE', '--api-key-file <file>', 'a file of API keys, one per line (Docker or Kubernetes secret)', z.string().optional()),
  listenKeys: setting('STT_LISTEN_KEYS', '--listen-keys <keys>', 'comma-separated keys that may only listen to sessions (/ws/events): for overlays and logs', z.string().optional()),
  maxKeyFailures: setting('STT_MAX_KEY_FAILURES', '--max-key-failures <n>', 'wrong API keys one address may present per minute before it is answered 429 (0: no limit)', integer(0).default(DEFAULT_MAX_KEY_FAILURES)),
  allowedHosts: setting('STT_ALLOWED_HOSTS', '--allowed-hosts <names>', 'without API keys: host names served besides localhost and IP addresses (.domain for its subdomains, * for any)', hostList().default([])),
  allowedOrigins: setting('STT_ALLOWED_ORIGINS', '--allowed-origins <origins>', "without API keys: other sites' origins (https://app.example.com) whose pages may call, or *", originList().default([])),
  backendApiKey: setting('STT_BACKEND_API_KEY', '--backend-api-key <key>', 'the key to present to backends that ask for one (default: the first of STT_API_KEYS)', z.string().optional()),
  webhookUrl: setting('STT_WEBHOOK_URL', '--webhook-url <url>', 'each committed turn of a named session is POSTed here as JSON (retried until answered 2xx)', httpUrl.optional()),
  webhookSecret: setting('STT_WEBHOOK_SECRET', '--webhook-secret <secret>', 'signs each webhook delivery: X-STT-Signature t=<unix>,v1=<hex HMAC-SHA256 of "t.body">', z.string().min(16, 'must have at least 16 characters').optional()),
  webhookTimeoutMs: setting('STT_WEBHOOK_TIMEOUT_MS', '--webhook-timeout-ms <ms>', 'one webhook attempt waits this long for an answer', integer(50).default(5000)),
  webhookRetryMs: setting('STT_WEBHOOK_RETRY_MS', '--webhook-retry-ms <ms>', 'the wait after a failed webhook attempt, doubling (jittered) per failure', integer(1).default(500)),
  webhookRetryMaxMs: setting('STT_WEBHOOK_RETRY_MAX_MS', '--webhook-retry-max-ms <ms>', 'the longest wait between two webhook attempts', integer(1).default(30_000)),
  webhookQueue: setting('STT_WEBHOOK_QUEUE', '--webhook-queue <n>', 'webhook deliveries kept waiting at most (past it the oldest is dropped and logged)', integer(1).default(1000)),
  logLevel: setting('LOG_LEVEL', '--log-level <level>', 'pino log level', z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info')),
};

export function parseProxyConfig(argv = process.argv, env = process.env): ProxyConfig {
  const o = readSettings(
    'stt_proxy',
    'stt_proxy: one address for transcription (CPU/GPU pools with failover), detection, REST, OpenAI routes and the control panel',
    PROXY_SETTINGS,
    argv,
    env,
  );
  // An empty STT_DETECT_URL means "no detection service"; readSettings treats it as unset, so look.
  const detectOff = env.STT_DETECT_URL === '' && !argv.includes('--detect-url');
  const apiKeys = loadApiKeys(o.apiKeys, o.apiKeyFile);
  const listenKeys = loadApiKeys(o.listenKeys, undefined, 'STT_LISTEN_KEYS');
  // Listen-only keys alone would lock out the microphone itself.
  if (listenKeys.length > 0 && apiKeys.length === 0) throw new Error('STT_LISTEN_KEYS needs STT_API_KEYS too: with keys on, sending audio takes a full key');
  return {
    host: o.host,
    port: o.port,
    tls: loadTls(o.tlsCert, o.tlsKey),
    cpuUrls: o.cpuUrls,
    gpuUrls: o.gpuUrls,
    detectUrl: detectOff ? undefined : o.detectUrl,
    statePath: resolve(o.state),
    panelDir: resolve(o.panelDir),
    maxBodyBytes: o.maxBodyBytes,
    bodyTimeoutMs: o.bodyTimeoutMs,
    maxReplayBytes: o.maxReplayBytes,
    upstreamIdleMs: o.upstreamIdleMs,
    retry: { retryDelayMs: o.retryMs, exhaustedDelayMs: o.retryRoundMs },
    holdMs: o.holdMs,
    maxHeldRequests: o.maxHeldRequests,
    relaySecret: o.relaySecret,
    maxConnections: o.maxConnections,
    maxListeners: o.maxListeners,
    maxFrameBytes: o.maxFrameBytes,
    heartbeat: { intervalMs: o.pingIntervalMs, timeoutMs: o.pingTimeoutMs },
    maxAudioSeconds: o.maxAudioSeconds,
    decodeTimeoutMs: o.decodeTimeoutMs,
    ffmpegPath: o.ffmpeg,
    pollMs: o.pollMs,
    apiKeys,
    backendApiKey: o.backendApiKey || apiKeys[0],
    listenKeys,
    webhook: o.webhookUrl
      ? { url: o.webhookUrl, secret: o.webhookSecret, timeoutMs: o.webhookTimeoutMs, maxQueue: o.webhookQueue, retryDelayMs: o.webhookRetryMs, maxDelayMs: o.webhookRetryMaxMs }
      : undefined,
    maxKeyFailures: o.maxKeyFailures,
    allowedHosts: o.allowedHosts,
    allowedOrigins: o.allowedOrigins,
    logLevel: o.logLevel,
  };
}
