import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseDeviceRequest, type DeviceRequest } from './engine/device.js';
import { DEFAULT_MARGIN_FRAMES } from './engine/audio_ctx.js';
import { DEFAULT_LIMITS, type Limits } from './server/limits.js';
import { DEFAULT_CAPACITY } from './engine/capacity.js';
import { heartbeatSettings } from './server/heartbeat.js';
import { relaySecretSetting } from './server/socket_route.js';
import { DEFAULT_MAX_KEY_FAILURES, loadApiKeys } from './server/api_keys.js';
import { hostList, originList } from './server/origin_guard.js';
import type { Role } from './server/context.js';
import type { Detector } from './server/detect_session.js';
import { fraction, integer, onOff, readSettings, setting } from './settings.js';
import { DEFAULT_SPEECH_GATE, type SpeechGate } from './vad/speech_span.js';
import { DEFAULT_TRACKER, releaseFor, type TrackerSettings } from './vad/utterance_tracker.js';
import { DEFAULT_TURNS, type TurnSettings } from './turns/settings.js';
import { DEFAULT_ASSISTANT, type AssistantSettings } from './turns/assistant_voice.js';
import { assistantPolicySchema } from './protocol/messages.js';

export interface ServiceConfig {
  name: string;
  /** The primary role (names the service's purpose in /ready). */
  role: Role;
  /**
   * Every role this process serves. Both in one process (as `npm start` runs it) share one
   * scheduler, so the detector's Whisper checks never run beside a final decode.
   */
  roles: Role[];
  /** The detector's Whisper when this process also transcribes (its own model is `model`). */
  tinyModel: string;
  /** Server-side turn defaults for /ws/transcribe. */
  turns: TurnSettings;
  /** What the VTuber's own voice does to new /ws/transcribe connections, until one says otherwise. */
  assistant: AssistantSettings;
  /** Detect role: who decides (silero alone, whisper tiny alone, or silero checked by tiny). */
  detector: Detector;
  tracker: TrackerSettings;
  host: string;
  port: number;
  model: string;
  modelDir?: string;
  device: DeviceRequest;
  /** Which prebuilt GPU build of @fugood/whisper.node to load. */
  gpuVariant: 'cuda' | 'vulkan';
  threads: number;
  language: string;
  prompt: string;
  audioCtx: boolean;
  audioCtxFloor: number;
  audioCtxMargin: number;
  vad: boolean;
  gate: SpeechGate;
  limits: Limits;
  /** Keys every route but /health and /ready asks for; none: no checks. */
  apiKeys: string[];
  /** Wrong keys one address may present per minute before it is answered 429 (0: no limit). */
  maxKeyFailures: number;
  /** Shared with the proxy: its reconnection of a session admitted before is not refused for load. */
  relaySecret?: string;
  /** Without keys: host names served besides localhost and IP addresses (any while listening beyond loopback), and other sites' origins allowed. */
  allowedHosts: string[];
  allowedOrigins: string[];
  logLevel: string;
}

/** What an entry point decides: its name, port and model; everything else is shared. */
export interface ServiceDefaults {
  name: string;
  role?: Role;
  port: number;
  model: string;
  /** The variable that names the model: tiny_ws reads STT_TINY_MODEL so one .env can serve all. */
  modelEnv?: string;
  device: DeviceRequest;
  detector?: Detector;
}

const roleSchema = z.enum(['transcribe', 'detect']);

/** Every setting of a service, with its variable, flag and check; the entry point's defaults filled in. */
export function serviceSettings(defaults: ServiceDefaults) {
  const role = defaults.role ?? 'transcribe';
  const ms = (max = 600_000) => integer(0, max);
  return {
    host: setting('HOST', '--host <host>', 'address to listen on', z.string().min(1).default('127.0.0.1')),
    port: setting('PORT', '--port <port>', 'port to listen on', integer(0, 65535).default(defaults.port)),
    model: setting(defaults.modelEnv ?? 'STT_MODEL', '--model <name|path>', 'model name (tiny, base, ...) or ggml file', z.string().min(1).default(defaults.model)),
    modelDir: setting('STT_MODEL_DIR', '--model-dir <dir>', 'where downloaded models live', z.string().optional()),
    device: setting('STT_DEVICE', '--device <device>', 'cpu, gpu or auto', z.enum(['cpu', 'gpu', 'auto']).default(defaults.device)),
    gpuVariant: setting('STT_GPU_VARIANT', '--gpu-variant <variant>', 'which prebuilt GPU build of @fugood/whisper.node to load', z.enum(['cuda', 'vulkan']).default('cuda')),
    roles: setting(
      'STT_ROLES',
      '--roles <list>',
      'roles served by this process: transcribe, detect, or transcribe,detect',
      z
        .string()
        .default(role)
        .transform((v) => [...new Set(v.split(',').map((r) => r.trim()).filter(Boolean))])
        .pipe(z.array(roleSchema).min(1, 'must name at least one role')),
    ),
    tinyModel: setting('STT_TINY_MODEL', '--tiny-model <name|path>', "the detector's Whisper when one process also transcribes", z.string().default('tiny')),
    threads: setting('STT_THREADS', '--threads <n>', 'whisper.cpp threads (default: every core when one process hosts both roles; else cores - 1, and 1 for detection)', integer(1, 256).optional()),
    speculateMs: setting('STT_SPECULATE_MS', '--speculate-ms <ms>', 'silence before the speculative decode starts', integer(32, 5000).default(DEFAULT_TURNS.speculateMs)),
    endOfTurnMs: setting('STT_END_OF_TURN_MS', '--end-of-turn-ms <ms>', 'server turns: silence that ends a turn', integer(64, 10000).default(DEFAULT_TURNS.endOfTurnMs)),
    sentenceEndMs: setting('STT_SENTENCE_END_MS', '--sentence-end-ms <ms>', 'server turns: silence that ends a turn whose text ends a sentence', integer(64, 10000).default(DEFAULT_TURNS.sentenceEndMs)),
    assistantPolicy: setting('STT_ASSISTANT_POLICY', '--assistant-policy <policy>', "what the VTuber's own voice does to a connection (assistant_speech): barge_in, ignore or off", assistantPolicySchema.default(DEFAULT_ASSISTANT.policy)),
    assistantTailMs: setting('STT_ASSISTANT_TAIL_MS', '--assistant-tail-ms <ms>', 'assistant policy ignore: how long after the VTuber stops the microphone is still not transcribed', integer(0, 10000).default(DEFAULT_ASSISTANT.tailMs)),
    eagerEndMs: setting('STT_EAGER_END_MS', '--eager-end-ms <ms>', 'turn events: silence a pause must last before its early text is announced as eager_end', integer(0, 10000).default(DEFAULT_TURNS.eagerEndMs)),
    preRollMs: setting('STT_PRE_ROLL_MS', '--pre-roll-ms <ms>', 'server turns: audio kept before the detected start', integer(0, 2000).default(DEFAULT_TURNS.preRollMs)),
    maxUtteranceMs: setting('STT_MAX_UTTERANCE_MS', '--max-utterance-ms <ms>', 'server turns: longest utterance before it is cut', integer(1000, 600_000).default(DEFAULT_TURNS.maxUtteranceMs)),
    languageAfterMs: setting('STT_LANGUAGE_AFTER_MS', '--language-after-ms <ms>', 'auto language: speech heard before the language is identified on its own', ms().default(DEFAULT_TURNS.languageAfterMs)),
    languageMemory: setting('STT_LANGUAGE_MEMORY', '--language-memory <on|off>', "auto language: keep a session's language while its text stays in that language's script instead of identifying each utterance", onOff().default(DEFAULT_TURNS.languageMemory)),
    partialIntervalMs: setting('STT_PARTIAL_INTERVAL_MS', '--partial-interval-ms <ms>', 'live partials: speech grown between two partial decodes', integer(100, 60_000).default(DEFAULT_TURNS.partialIntervalMs)),
    language: setting(
      'STT_LANGUAGE',
      '--language <code>',
      'auto, ko, en, ...',
      z
        .string()
        .trim()
        .toLowerCase()
        .regex(/^(auto|[a-z]{2,3})$/, 'must be "auto" or an ISO code such as "ko"')
        .default('auto'),
    ),
    prompt: setting('STT_PROMPT', '--prompt <text>', 'initial prompt: names to spell right', z.string().max(1000).default('')),
    audioCtx: setting('STT_AUDIO_CTX', '--audio-ctx <on|off>', 'size the encoder to the utterance', onOff().default(true)),
    audioCtxFloor: setting('STT_AUDIO_CTX_FLOOR', '--audio-ctx-floor <frames>', 'smallest encoder context', integer(1, 1500).default(128)),
    audioCtxMargin: setting('STT_AUDIO_CTX_MARGIN', '--audio-ctx-margin <frames>', 'encoder frames (20 ms) past the audio; more makes loops rarer and decodes slower', integer(0, 1500).default(DEFAULT_MARGIN_FRAMES)),
    vad: setting('STT_VAD', '--vad <on|off>', 'Silero gate before Whisper', onOff().default(true)),
    vadThreshold: setting('STT_VAD_THRESHOLD', '--vad-threshold <p>', 'speech probability threshold', fraction().default(DEFAULT_SPEECH_GATE.threshold)),
    detector: setting('STT_DETECTOR', '--detector <mode>', 'silero, whisper or hybrid (detect role)', z.enum(['silero', 'whisper', 'hybrid']).default(defaults.detector ?? 'hybrid')),
    detectThreshold: setting('STT_DETECT_THRESHOLD', '--detect-threshold <p>', 'speech probability that opens an utterance (detect role)', fraction().default(DEFAULT_TRACKER.threshold)),
    minSpeechMs: setting('STT_MIN_SPEECH_MS', '--min-speech-ms <ms>', 'speech needed before speech_start', integer(0, 5000).default(DEFAULT_TRACKER.minSpeechMs)),
    hangoverMs: setting('STT_HANGOVER_MS', '--hangover-ms <ms>', 'silence needed before speech_end', integer(0, 10000).default(DEFAULT_TRACKER.hangoverMs)),
    maxConnections: setting('STT_MAX_CONNECTIONS', '--max-connections <n>', 'WebSocket connections', integer(1).default(DEFAULT_LIMITS.maxConnections)),
    maxQueue: setting('STT_MAX_QUEUE', '--max-queue <n>', 'inference jobs waiting', integer(1).default(DEFAULT_LIMITS.maxQueue)),
    maxBusy: setting(
      'STT_MAX_BUSY',
      '--max-busy <fraction>',
      'engine busy fraction over STT_BUSY_WINDOW_MS past which new sessions are refused (at_capacity); 1 turns admission off',
      z.coerce.number<string>({ error: 'must be a number' }).gt(0, 'must be above 0 and at most 1').lte(1, 'must be above 0 and at most 1').default(DEFAULT_CAPACITY.maxBusy),
    ),
    busyWindowMs: setting('STT_BUSY_WINDOW_MS', '--busy-window-ms <ms>', 'the window the engine busy fraction is measured over', integer(1000, 600_000).default(DEFAULT_CAPACITY.windowMs)),
    maxFrameBytes: setting('STT_MAX_FRAME_BYTES', '--max-frame-bytes <n>', 'largest audio frame', integer(2).default(DEFAULT_LIMITS.maxFrameBytes)),
    maxBufferSeconds: setting('STT_MAX_BUFFER_SECONDS', '--max-buffer-seconds <n>', 'audio buffered per connection', integer(1, 3600).default(DEFAULT_LIMITS.maxBufferSeconds)),
    ...heartbeatSettings(),
    apiKeys: setting('STT_API_KEYS', '--api-keys <keys>', 'comma-separated API keys that every route but /health and /ready asks for', z.string().optional()),
    apiKeyFile: setting('STT_API_KEY_FILE', '--api-key-file <file>', 'a file of API keys, one per line (Docker or Kubernetes secret)', z.string().optional()),
    maxKeyFailures: setting('STT_MAX_KEY_FAILURES', '--max-key-failures <n>', 'wrong API keys one address may present per minute before it is answered 429 (0: no limit)', integer(0).default(DEFAULT_MAX_KEY_FAILURES)),
    relaySecret: relaySecretSetting('shared by the proxy and the transcription services: a session the proxy reconnects (after an idle release or a failover) presents it and is admitted past STT_MAX_BUSY, having been admitted before; unset: every session goes through admission (npm start sets a random one)'),
    allowedHosts: setting('STT_ALLOWED_HOSTS', '--allowed-hosts <names>', 'without API keys: host names served besides localhost and IP addresses (.domain for its subdomains, * for any; any while listening beyond loopback)', hostList().default([])),
    allowedOrigins: setting('STT_ALLOWED_ORIGINS', '--allowed-origins <origins>', "without API keys: other sites' origins (https://app.example.com) whose pages may call, or *", originList().default([])),
    logLevel: setting('LOG_LEVEL', '--log-level <level>', 'pino log level', z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info')),
  };
}

/**
 * Environment variables (Docker-friendly) with CLI flags mirroring them; a flag wins over
 * its variable. Invalid values fail here, before anything loads, naming each variable.
 */
export function parseServiceConfig(defaults: ServiceDefaults, argv = process.argv, env = process.env): ServiceConfig {
  const role = defaults.role ?? 'transcribe';
  const description = role === 'transcribe' ? `${defaults.name}: Whisper transcription over WebSocket (/ws/transcribe)` : `${defaults.name}: speech detection over WebSocket (/ws/detect)`;
  const o = readSettings(defaults.name, description, serviceSettings(defaults), argv, env);
  const roles = o.roles as Role[];
  // whisper.cpp's threads spin while they wait for each other: two services whose thread counts
  // add up to more than the cores can slow each other 70x (measured: warm-up 31 s instead of
  // 0.45 s). One process with both roles runs one computation at a time, so it may use every core;
  // separate services leave a core for the detector's tiny model.
  const cores = Math.max(1, Math.min(8, availableParallelism()));
  const threads = o.threads ?? (roles.length === 2 ? cores : roles[0] === 'detect' ? 1 : Math.max(1, cores - 1));
  if (o.maxUtteranceMs > o.maxBufferSeconds * 1000) throw new Error('STT_MAX_UTTERANCE_MS must not exceed STT_MAX_BUFFER_SECONDS');
  return {
    name: defaults.name,
    role: roles.includes('transcribe') ? 'transcribe' : 'detect',
    roles,
    tinyModel: o.tinyModel,
    turns: {
      ...DEFAULT_TURNS,
      speculateMs: o.speculateMs,
      endOfTurnMs: o.endOfTurnMs,
      sentenceEndMs: o.sentenceEndMs,
      eagerEndMs: o.eagerEndMs,
      preRollMs: o.preRollMs,
      maxUtteranceMs: o.maxUtteranceMs,
      languageAfterMs: o.languageAfterMs,
      languageMemory: o.languageMemory,
      partialIntervalMs: o.partialIntervalMs,
      threshold: o.detectThreshold,
      minSpeechMs: o.minSpeechMs,
    },
    assistant: { policy: o.assistantPolicy, tailMs: o.assistantTailMs },
    detector: o.detector,
    tracker: {
      threshold: o.detectThreshold,
      negThreshold: releaseFor(o.detectThreshold),
      minSpeechMs: o.minSpeechMs,
      hangoverMs: o.hangoverMs,
      frameHoldMs: DEFAULT_TRACKER.frameHoldMs,
    },
    host: o.host,
    port: o.port,
    model: o.model,
    modelDir: o.modelDir,
    device: parseDeviceRequest(o.device),
    gpuVariant: o.gpuVariant,
    threads,
    language: o.language,
    prompt: o.prompt,
    audioCtx: o.audioCtx,
    audioCtxFloor: o.audioCtxFloor,
    audioCtxMargin: o.audioCtxMargin,
    vad: o.vad,
    gate: { ...DEFAULT_SPEECH_GATE, threshold: o.vadThreshold, release: Math.min(o.vadThreshold, releaseFor(o.detectThreshold)) },
    limits: {
      maxConnections: o.maxConnections,
      maxQueue: o.maxQueue,
      capacity: { maxBusy: o.maxBusy, windowMs: o.busyWindowMs },
      maxFrameBytes: o.maxFrameBytes,
      maxBufferSeconds: o.maxBufferSeconds,
      heartbeat: { intervalMs: o.pingIntervalMs, timeoutMs: o.pingTimeoutMs },
    },
    apiKeys: loadApiKeys(o.apiKeys, o.apiKeyFile),
    maxKeyFailures: o.maxKeyFailures,
    relaySecret: o.relaySecret,
    allowedHosts: o.allowedHosts,
    allowedOrigins: o.allowedOrigins,
    logLevel: o.logLevel,
  };
}
