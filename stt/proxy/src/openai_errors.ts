import { AudioDecodeError } from './decode/errors.js';
import { UpstreamError } from './rest_transcribe.js';

/** A request OpenAI would refuse naming a parameter (`param` in its error object). */
export class OpenAIParamError extends Error {
  constructor(
    message: string,
    readonly param: string | null,
    readonly code: string = 'invalid_value',
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

export function openAIErrorBody(status: number, message: string, code: string | null, param: string | null = null): OpenAIErrorBody {
  const type = status >= 500 ? 'server_error' : status === 429 ? 'rate_limit_error' : 'invalid_request_error';
  return { error: { message, type, code, param } };
}

/** Any error a /v1 route can meet, as OpenAI's status and error object. */
export function toOpenAIError(error: unknown, maxBodyBytes: number): { status: number; body: OpenAIErrorBody } {
  if (error instanceof OpenAIParamError) return { status: error.status, body: openAIErrorBody(error.status, error.message, error.code, error.param) };
  if (error instanceof AudioDecodeError) return { status: error.status, body: openAIErrorBody(error.status, error.message, error.code, 'file') };
  if (error instanceof UpstreamError) return { status: error.status, body: openAIErrorBody(error.status, error.message, error.code) };
  const e = error as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_REQ_FILE_TOO_LARGE' || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { status: 413, body: openAIErrorBody(413, `the upload is larger than ${maxBodyBytes} bytes (STT_PROXY_MAX_BODY_BYTES)`, 'file_too_large', 'file') };
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return { status: e.statusCode, body: openAIErrorBody(e.statusCode, e.message ?? 'bad request', e.code ?? null) };
  return { status: 500, body: openAIErrorBody(500, `internal error: ${e.message ?? String(error)}`, 'internal_error') };
}
