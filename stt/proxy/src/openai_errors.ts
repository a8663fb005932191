import { codeOf, openAICodeOf, ServiceError, statusOf, type ErrorCode } from '@vtuber-stt/core';
import { AudioDecodeError } from './decode/errors.js';

/** A request OpenAI would refuse naming a parameter (`param` in its error object). */
export class OpenAIParamError extends ServiceError {
  constructor(
    message: string,
    readonly param: string | null,
    code: ErrorCode = 'invalid_value',
  ) {
    super(code, message);
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

/** OpenAI's error object for one of our codes: its status and code come from the error table. */
export function openAIErrorBody(code: ErrorCode, message: string, param: string | null = null): OpenAIErrorBody {
  const status = statusOf(code);
  const type = status >= 500 ? 'server_error' : status === 429 ? 'rate_limit_error' : 'invalid_request_error';
  return { error: { message, type, code: openAICodeOf(code), param } };
}

/** Any error a /v1 route can meet, as OpenAI's status and error object. */
export function toOpenAIError(error: unknown, maxBodyBytes: number): { status: number; body: OpenAIErrorBody } {
  const answer = (code: ErrorCode, message: string, param: string | null = null) => ({ status: statusOf(code), body: openAIErrorBody(code, message, param) });
  if (error instanceof OpenAIParamError) return answer(error.code, error.message, error.param);
  // An audio body that cannot be read is about the `file` parameter.
  if (error instanceof ServiceError) return answer(error.code, error.message, error instanceof AudioDecodeError ? 'file' : null);
  const e = error as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_REQ_FILE_TOO_LARGE' || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return answer('body_too_large', `the upload is larger than ${maxBodyBytes} bytes (STT_PROXY_MAX_BODY_BYTES)`, 'file');
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { error: { message: e.message ?? 'bad request', type: 'invalid_request_error', code: codeOf(e, 'invalid_request'), param: null } } };
  }
  return answer('internal_error', `internal error: ${e.message ?? String(error)}`);
}
