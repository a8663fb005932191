import type { FastifyInstance, FastifyReply } from 'fastify';
import { codeOf, isWhisperLanguage, ServiceError, statusOf, unknownLanguageMessage, type ErrorCode } from '@vtuber-stt/core';
import { clientGone } from '../client_gone.js';
import { decodeSettings, requestAudio } from '../decode/request_audio.js';
import { transcribeOnce } from '../rest_transcribe.js';
import { UpstreamError } from '../upstream_error.js';
import { markRefusal, type ProxyContext } from './context.js';

const flag = (v: unknown) => v === '1' || v === 'true';

/** `POST /api/transcribe`: an audio file of any supported type, or raw PCM; answers the transcript JSON. */
export async function restPlugin(app: FastifyInstance, ctx: ProxyContext): Promise<void> {
  const { config, metrics, choose } = ctx;
  const settings = decodeSettings(config, ctx.logger);
  // Audio arrives as bytes whatever it claims to be: the container is sniffed, not trusted, so a
  // body of any type gets the answer its bytes earn (the same as the same file on /v1).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // The REST shape of every error: the table's status, `{error, code}`.
  const answer = (reply: FastifyReply, code: ErrorCode, error: string) => reply.code(statusOf(code)).send({ error, code });
  app.setErrorHandler((error, request, reply) => {
    // A body refused before its end is not read on: the connection closes after the answer.
    if (!request.raw.complete) reply.header('connection', 'close');
    if (error instanceof ServiceError) {
      if (error instanceof UpstreamError) metrics.requests.inc({ route: 'rest', backend: 'none', outcome: error.code });
      markRefusal(reply, error, 'rest', metrics);
      return answer(reply, error.code, error.message);
    }
    const e = error as { code?: string; statusCode?: number; message: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return answer(reply, 'body_too_large', `the body is larger than ${config.maxBodyBytes} bytes (STT_PROXY_MAX_BODY_BYTES)`);
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: e.message, code: codeOf(e, 'bad_message') });
    ctx.logger.error({ err: error }, 'REST transcription failed');
    return answer(reply, 'internal_error', `internal error: ${e.message}`);
  });

  app.post('/api/transcribe', async (request, reply) => {
    const query = request.query as Record<string, string>;
    const language = typeof query.language === 'string' ? query.language.trim().toLowerCase() || undefined : undefined;
    if (language && !isWhisperLanguage(language)) return answer(reply, 'bad_query', unknownLanguageMessage(language.slice(0, 40)));
    const signal = clientGone(reply);
    try {
      // No body at all is an empty one.
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const audio = await requestAudio(body, query, request.headers['content-type'], settings, signal);
      const { result, backend } = await transcribeOnce(choose, audio, {
        language,
        prompt: query.prompt,
        translate: flag(query.translate),
        words: flag(query.word_timestamps),
        signal,
      }, undefined, { wait: ctx.waitForMember, ms: config.holdMs, surface: 'rest', signal });
      metrics.requests.inc({ route: 'rest', backend: backend.name, outcome: 'ok' });
      backend.observe(result.latency_ms);
      return { ...result, backend: backend.name };
    } catch (error) {
      // Work dropped because nobody waits for it: counted, so it shows.
      if (signal.aborted && !(error instanceof UpstreamError)) metrics.requests.inc({ route: 'rest', backend: 'none', outcome: 'aborted' });
      throw error;
    }
  });
}
