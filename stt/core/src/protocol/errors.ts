/**
 * Every error the project answers with, once: what it means, the HTTP status a REST route
 * answers it with, and, for the ones that end a WebSocket connection, the close code. The
 * others are sent as `{"type":"error", code, error}` and the connection keeps serving.
 * Services, the proxy's relays, its REST and OpenAI routes and the clients all read this
 * table, so one input gets one answer on every surface.
 */
interface ErrorSpec {
  status: number;
  /** Set when the error ends the connection (1008 and 1009 for good, 1013 "try again later"). */
  close?: number;
  means: string;
  /** The code OpenAI's own API uses for it, where that differs (its SDKs match on it). */
  openai?: string;
}

export const ERRORS = {
  bad_message: { status: 400, means: 'a text message that is not a command, not JSON, or not valid here' },
  bad_query: { status: 400, close: 1008, means: 'the query string cannot describe the session (sample_rate, encoding, channels, turns)' },
  bad_audio: { status: 400, means: 'audio that cannot be read as declared (a broken header, a partial sample, an impossible rate)' },
  // 400, not 415: OpenAI answers an unreadable file so, and its SDKs raise BadRequestError for it.
  unsupported_format: { status: 400, means: 'a file that is no audio type the proxy reads' },
  unsupported_media_type: { status: 415, means: 'a Content-Type the route does not take, or one the bytes contradict' },
  invalid_value: { status: 400, means: 'an OpenAI request parameter out of range' },
  invalid_request: { status: 400, means: 'an OpenAI audio request that is not multipart/form-data' },
  missing_required_parameter: { status: 400, means: 'an OpenAI audio request without its file' },
  unknown_url: { status: 404, means: 'a path this server does not serve' },
  model_not_found: { status: 404, means: 'a model id that is not loaded here' },
  frame_too_large: { status: 413, means: 'a binary frame over the frame limit (STT_MAX_FRAME_BYTES); the frame is refused, the connection serves on' },
  payload_too_large: { status: 413, close: 1009, means: "a frame over the WebSocket server's own limit: the connection is closed" },
  body_too_large: { status: 413, means: 'an upload over STT_PROXY_MAX_BODY_BYTES', openai: 'file_too_large' },
  form_too_large: { status: 413, means: "an OpenAI audio form with more than one file, more than 16 fields, or a field over 16 KiB (refused as it arrives)" },
  invalid_utf8: { status: 400, close: 1007, means: 'a text frame that is not UTF-8' },
  protocol_error: { status: 400, close: 1002, means: 'a frame that breaks the WebSocket protocol' },
  audio_too_long: { status: 413, means: 'more audio than one request may carry' },
  buffer_full: { status: 413, means: 'audio past STT_MAX_BUFFER_SECONDS before a flush; the frame is refused' },
  not_reading: { status: 400, close: 1008, means: 'the client leaves more than 1 MiB of replies unread, or keeps sending but answers no ping within STT_WS_PING_TIMEOUT_MS' },
  peer_unresponsive: { status: 504, close: 1001, means: 'the peer answered no ping within STT_WS_PING_TIMEOUT_MS (asleep, frozen or gone): closed; reconnect' },
  decode_timeout: { status: 400, means: 'a file that took longer than STT_PROXY_DECODE_TIMEOUT_MS to decode' },
  decoder_missing: { status: 501, means: 'a format that needs ffmpeg, which is not installed' },
  echo_canceller_missing: { status: 501, means: "reference audio (assistant_audio) where the echo canceller (libspeexdsp) is not installed: said once, the audio is ignored and the VTuber's echo is dropped by its text instead" },
  unauthorized: { status: 401, close: 1008, means: "a missing or wrong API key: a WebSocket handshake is refused with 401 before the upgrade; 1008 is how a proxied session hears a backend's refusal", openai: 'invalid_api_key' },
  too_many_attempts: { status: 429, means: 'more wrong API keys from one address than STT_MAX_KEY_FAILURES a minute; the right key still passes', openai: 'rate_limit_exceeded' },
  forbidden_host: { status: 403, means: 'without API keys, a Host that is not localhost, an IP address or in STT_ALLOWED_HOSTS (DNS rebinding)' },
  forbidden_origin: { status: 403, means: 'without API keys, a browser request from a page of another origin not in STT_ALLOWED_ORIGINS' },
  listen_only: { status: 403, means: 'a listen-only key (STT_LISTEN_KEYS) used for more than listening to a session' },
  session_not_found: { status: 404, means: "a session name no connection speaks on now (for a remote mute or the VTuber's speech)" },
  session_in_use: { status: 503, close: 1013, means: 'a session name another connection already speaks on (one microphone per session); try again once it has left' },
  busy: { status: 503, close: 1013, means: 'the connection limit is reached; try again later' },
  at_capacity: { status: 503, close: 1013, means: 'the engine is past the load it can carry with finals prompt (busy over STT_MAX_BUSY): a new session is refused at connect, the admitted ones are served; the reason, the error field `retry_after_s` and the REST header `Retry-After` say when to try again' },
  not_ready: { status: 503, close: 1013, means: 'the model is still loading; try again shortly' },
  overloaded: { status: 503, means: "the inference queue is full, or the proxy is out of file descriptors (its own `ulimit -n`, not the backend's fault); that request was not done" },
  engine_unavailable: { status: 503, means: 'no transcription service is reachable right now' },
  unreachable: { status: 502, close: 1013, means: 'the proxy lost its backend; reconnect' },
  shutting_down: { status: 503, close: 1001, means: 'the server is stopping; reconnect' },
  engine_error: { status: 500, means: 'whisper.cpp or the detector failed on this request' },
  model_load_failed: { status: 503, means: 'the model could not be loaded' },
  gpu_unavailable: { status: 503, means: 'the GPU build of whisper.cpp is not installed' },
  model_missing: { status: 503, means: 'no model file where the settings point (`npm run models`)' },
  checksum_mismatch: { status: 502, means: 'a downloaded model does not match its checksum' },
  download_failed: { status: 502, means: 'a model could not be downloaded' },
  timeout: { status: 504, means: 'a backend did not answer in time' },
  aborted: { status: 499, means: 'the client went away or cancelled' },
  internal_error: { status: 500, means: 'a bug: please report it' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

export const statusOf = (code: ErrorCode): number => ERRORS[code].status;

/** The code an OpenAI route answers with. */
export const openAICodeOf = (code: ErrorCode): string => (ERRORS[code] as ErrorSpec).openai ?? code;

/** The close code of an error that ends a connection; undefined for one the connection survives. */
export const closeCodeOf = (code: ErrorCode): number | undefined => (ERRORS[code] as ErrorSpec).close;

/** An error that knows its code, so every surface can answer it from the table. */
export class ServiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** `at_capacity`: when to try again, in seconds (REST's `Retry-After`). */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }

  get status(): number {
    return statusOf(this.code);
  }
}

/** Any thrown thing's code: its own where it names one from the table, else `fallback`. */
export function codeOf(error: unknown, fallback: ErrorCode = 'engine_error'): ErrorCode {
  const code = (error as { code?: unknown } | undefined)?.code;
  return isErrorCode(code) ? code : fallback;
}
