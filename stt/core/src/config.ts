import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { envOption as opt, intArg as int, numberArg as num, parseWithEnv, switchArg as bool } from './cli_options.js';
import { parseDeviceRequest, type DeviceRequest } from './engine/device.js';
import { DEFAULT_LIMITS, type Limits } from './server/limits.js';
import { loadApiKeys } from './server/api_keys.js';
import type { Role } from './server/context.js';
import type { Detector } from './server/detect_session.js';
import { DEFAULT_SPEECH_GATE, type SpeechGate } from './vad/speech_span.js';
import { DEFAULT_TRACKER, releaseFor, type TrackerSettings } from './vad/utterance_tracker.js';
import { DEFAULT_TURNS, type TurnSettings } from './turns/settings.js';

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
  /** Detect role: who decides (silero alone, whisper tiny alone, or silero checked by tiny). */
  detector: Detector;
  tracker: TrackerSettings;
  host: string;
  port: number;
  model: string;
  modelDir?: string;
  device: DeviceRequest;
  threads: number;
  language: string;
  prompt: string;
  audioCtx: boolean;
  audioCtxFloor: number;
  vad: boolean;
  gate: SpeechGate;
  limits: Limits;
  /** Keys every route but /health and /ready asks for; none: no checks. */
  apiKeys: string[];
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

/**
 * Environment variables (Docker-friendly) with CLI flags mirroring them; a flag wins over
 * its variable. Invalid values fail here, before anything loads.
 */
export function parseServiceConfig(defaults: ServiceDefaults, argv = process.argv, env = process.env): ServiceConfig {
  const role = defaults.role ?? 'transcribe';
  const modelEnv = defaults.modelEnv ?? 'STT_MODEL';
  const program = new Command(defaults.name)
    .description(role === 'transcribe' ? `${defaults.name}: Whisper transcription over WebSocket (/ws/transcribe)` : `${defaults.name}: speech detection over WebSocket (/ws/detect)`)
    .addOption(opt('--host <host>', 'address to listen on', 'HOST').default('127.0.0.1'))
    .addOption(opt('--port <port>', 'port to listen on', 'PORT', int('PORT')).default(defaults.port))
    .addOption(opt('--model <name|path>', 'model name (tiny, base, ...) or ggml file', modelEnv).default(defaults.model))
    .addOption(opt('--model-dir <dir>', 'where downloaded models live', 'STT_MODEL_DIR'))
    .addOption(opt('--device <device>', 'cpu, gpu or auto', 'STT_DEVICE').default(defaults.device))
    .addOption(opt('--roles <list>', 'roles served by this process: transcribe, detect, or transcribe,detect', 'STT_ROLES').default(role))
    .addOption(opt('--tiny-model <name|path>', "the detector's Whisper when one process also transcribes", 'STT_TINY_MODEL').default('tiny'))
    .addOption(opt('--threads <n>', 'whisper.cpp threads (default: every core when one process hosts both roles; else cores - 1, and 1 for detection)', 'STT_THREADS', int('STT_THREADS')))
    .addOption(opt('--speculate-ms <ms>', 'silence before the speculative decode starts', 'STT_SPECULATE_MS', int('STT_SPECULATE_MS')).default(DEFAULT_TURNS.speculateMs))
    .addOption(opt('--end-of-turn-ms <ms>', 'server turns: silence that ends a turn', 'STT_END_OF_TURN_MS', int('STT_END_OF_TURN_MS')).default(DEFAULT_TURNS.endOfTurnMs))
    .addOption(opt('--sentence-end-ms <ms>', 'server turns: silence that ends a turn whose text ends a sentence', 'STT_SENTENCE_END_MS', int('STT_SENTENCE_END_MS')).default(DEFAULT_TURNS.sentenceEndMs))
    .addOption(opt('--pre-roll-ms <ms>', 'server turns: audio kept before the detected start', 'STT_PRE_ROLL_MS', int('STT_PRE_ROLL_MS')).default(DEFAULT_TURNS.preRollMs))
    .addOption(opt('--max-utterance-ms <ms>', 'server turns: longest utterance before it is cut', 'STT_MAX_UTTERANCE_MS', int('STT_MAX_UTTERANCE_MS')).default(DEFAULT_TURNS.maxUtteranceMs))
    .addOption(opt('--language-after-ms <ms>', 'auto language: speech heard before the language is identified on its own', 'STT_LANGUAGE_AFTER_MS', int('STT_LANGUAGE_AFTER_MS')).default(DEFAULT_TURNS.languageAfterMs))
    .addOption(opt('--partial-interval-ms <ms>', 'live partials: speech grown between two partial decodes', 'STT_PARTIAL_INTERVAL_MS', int('STT_PARTIAL_INTERVAL_MS')).default(DEFAULT_TURNS.partialIntervalMs))
    .addOption(opt('--language <code>', 'auto, ko, en, ...', 'STT_LANGUAGE').default('auto'))
    .addOption(opt('--prompt <text>', 'initial prompt: names to spell right', 'STT_PROMPT').default(''))
    .addOption(opt('--audio-ctx <on|off>', 'size the encoder to the utterance', 'STT_AUDIO_CTX', bool('STT_AUDIO_CTX')).default(true))
    .addOption(opt('--audio-ctx-floor <frames>', 'smallest encoder context', 'STT_AUDIO_CTX_FLOOR', int('STT_AUDIO_CTX_FLOOR')).default(128))
    .addOption(opt('--vad <on|off>', 'Silero gate before Whisper', 'STT_VAD', bool('STT_VAD')).default(true))
    .addOption(opt('--vad-threshold <p>', 'speech probability threshold', 'STT_VAD_THRESHOLD', num('STT_VAD_THRESHOLD')).default(DEFAULT_SPEECH_GATE.threshold))
    .addOption((opt('--detector <mode>', 'silero, whisper or hybrid (detect role)', 'STT_DETECTOR').choices(['silero', 'whisper', 'hybrid'])).default(defaults.detector ?? 'hybrid'))
    .addOption(opt('--detect-threshold <p>', 'speech probability that opens an utterance (detect role)', 'STT_DETECT_THRESHOLD', num('STT_DETECT_THRESHOLD')).default(DEFAULT_TRACKER.threshold))
    .addOption(opt('--min-speech-ms <ms>', 'speech needed before speech_start', 'STT_MIN_SPEECH_MS', int('STT_MIN_SPEECH_MS')).default(DEFAULT_TRACKER.minSpeechMs))
    .addOption(opt('--hangover-ms <ms>', 'silence needed before speech_end', 'STT_HANGOVER_MS', int('STT_HANGOVER_MS')).default(DEFAULT_TRACKER.hangoverMs))
    .addOption(opt('--max-connections <n>', 'WebSocket connections', 'STT_MAX_CONNECTIONS', int('STT_MAX_CONNECTIONS')).default(DEFAULT_LIMITS.maxConnections))
    .addOption(opt('--max-queue <n>', 'inference jobs waiting', 'STT_MAX_QUEUE', int('STT_MAX_QUEUE')).default(DEFAULT_LIMITS.maxQueue))
    .addOption(opt('--max-frame-bytes <n>', 'largest audio frame', 'STT_MAX_FRAME_BYTES', int('STT_MAX_FRAME_BYTES')).default(DEFAULT_LIMITS.maxFrameBytes))
    .addOption(opt('--max-buffer-seconds <n>', 'audio buffered per connection', 'STT_MAX_BUFFER_SECONDS', int('STT_MAX_BUFFER_SECONDS')).default(DEFAULT_LIMITS.maxBufferSeconds))
    .addOption(opt('--api-keys <keys>', 'comma-separated API keys that every route but /health and /ready asks for', 'STT_API_KEYS'))
    .addOption(opt('--api-key-file <file>', 'a file of API keys, one per line (Docker or Kubernetes secret)', 'STT_API_KEY_FILE'))
    .addOption(opt('--log-level <level>', 'pino log level', 'LOG_LEVEL').default('info'));
  const o = parseWithEnv(program, argv, env);
  const threshold = o.vadThreshold as number;
  if (threshold <= 0 || threshold >= 1) throw new Error(`STT_VAD_THRESHOLD must be between 0 and 1 (got ${threshold})`);
  const roles = [...new Set(String(o.roles).split(',').map((r) => r.trim()).filter(Boolean))];
  for (const r of roles) if (r !== 'transcribe' && r !== 'detect') throw new Error(`STT_ROLES takes transcribe and/or detect (got "${r}")`);
  if (roles.length === 0) throw new Error('STT_ROLES must name at least one role');
  // whisper.cpp's threads spin while they wait for each other: two services whose thread counts
  // add up to more than the cores can slow each other 70x (measured: warm-up 31 s instead of
  // 0.45 s). One process with both roles runs one computation at a time, so it may use every core;
  // separate services leave a core for the detector's tiny model.
  const cores = Math.max(1, Math.min(8, availableParallelism()));
  const threads = (o.threads as number | undefined) ?? (roles.length === 2 ? cores : roles[0] === 'detect' ? 1 : Math.max(1, cores - 1));
  if (threads < 1) throw new Error('STT_THREADS must be at least 1');
  if ((o.partialIntervalMs as number) < 100) throw new Error(`STT_PARTIAL_INTERVAL_MS must be at least 100 (got ${o.partialIntervalMs as number})`);
  if (o.maxUtteranceMs as number > (o.maxBufferSeconds as number) * 1000) throw new Error('STT_MAX_UTTERANCE_MS must not exceed STT_MAX_BUFFER_SECONDS');
  const detectThreshold = o.detectThreshold as number;
  if (detectThreshold <= 0 || detectThreshold >= 1) throw new Error(`STT_DETECT_THRESHOLD must be between 0 and 1 (got ${detectThreshold})`);
  return {
    name: defaults.name,
    role: roles.includes('transcribe') ? 'transcribe' : 'detect',
    roles: roles as Role[],
    tinyModel: o.tinyModel as string,
    turns: {
      ...DEFAULT_TURNS,
      speculateMs: o.speculateMs as number,
      endOfTurnMs: o.endOfTurnMs as number,
      sentenceEndMs: o.sentenceEndMs as number,
      preRollMs: o.preRollMs as number,
      maxUtteranceMs: o.maxUtteranceMs as number,
      languageAfterMs: o.languageAfterMs as number,
      partialIntervalMs: o.partialIntervalMs as number,
      threshold: detectThreshold,
      minSpeechMs: o.minSpeechMs as number,
    },
    detector: o.detector as Detector,
    tracker: {
      threshold: detectThreshold,
      negThreshold: releaseFor(detectThreshold),
      minSpeechMs: o.minSpeechMs as number,
      hangoverMs: o.hangoverMs as number,
      frameHoldMs: DEFAULT_TRACKER.frameHoldMs,
    },
    host: o.host as string,
    port: o.port as number,
    model: o.model as string,
    modelDir: o.modelDir as string | undefined,
    device: parseDeviceRequest(o.device as string),
    threads,
    language: (o.language as string).toLowerCase(),
    prompt: o.prompt as string,
    audioCtx: o.audioCtx as boolean,
    audioCtxFloor: o.audioCtxFloor as number,
    vad: o.vad as boolean,
    gate: { ...DEFAULT_SPEECH_GATE, threshold, release: Math.min(threshold, releaseFor(detectThreshold)) },
    limits: {
      maxConnections: o.maxConnections as number,
      maxQueue: o.maxQueue as number,
      maxFrameBytes: o.maxFrameBytes as number,
      maxBufferSeconds: o.maxBufferSeconds as number,
    },
    apiKeys: loadApiKeys(o.apiKeys as string | undefined, o.apiKeyFile as string | undefined),
    logLevel: o.logLevel as string,
  };
}
