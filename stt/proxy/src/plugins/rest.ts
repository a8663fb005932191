import type { FastifyInstance } from 'fastify';
import { AudioDecodeError } from '../decode/errors.js';
import { decodeSettings, requestAudio } from '../decode/request_audio.js';
import { transcribeOnce, UpstreamError } from '../rest_transcribe.js';
import type { ProxyContext } from './context.js';

const flag = (v: unknown) => v === '1' || v === 'true';

/** `POST /api/transcribe`: an audio file of any supported type, or raw PCM; answers the transcript JSON. */
export async function restPlugin(app: FastifyInstance, ctx: ProxyContext): Promise<void> {
  const { config, metrics, choose } = ctx;
  const settings = decodeSettings(config);
  // Audio arrives as bytes whatever it claims to be: the container is sniffed, not trusted.
  app.addContentTypeParser(/^(audio|video)\/|^application\/octet-stream/, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof AudioDecodeError || error instanceof UpstreamError) {
      if (error instanceof UpstreamError) metrics.requests.inc({ route: 'rest', backend: 'none', outcome: error.code });
      return reply.code(error.status).send({ error: error.message, code: error.code });
    }
    const e = error as { code?: string; statusCode?: number; message: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: `the body is larger than ${config.maxBodyBytes} bytes (STT_PROXY_MAX_BODY_BYTES)`, code: 'too_large' });
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: 'post audio as a file (audio/*, application/octet-stream) or raw PCM (application/octet-stream with ?sample_rate=&encoding=)', code: 'bad_audio' });
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: e.message, code: e.code ?? 'bad_request' });
    ctx.logger.error({ err: error }, 'REST transcription failed');
    return reply.code(500).send({ error: `internal error: ${e.message}`, code: 'internal_error' });
  });

  app.post('/api/transcribe', async (request, reply) => {
    const query = request.query as Record<string, string>;
    if (!Buffer.isBuffer(request.body)) return reply.code(415).send({ error: 'post audio as a file (audio/*, application/octet-stream) or raw PCM with ?sample_rate=&encoding=', code: 'bad_audio' });
    const audio = await requestAudio(request.body, query, request.headers['content-type'], settings);
    const { result, backend } = await transcribeOnce(choose, audio, {
      language: query.language,
      prompt: query.prompt,
      translate: flag(query.translate),
      words: flag(query.word_timestamps),
    });
    metrics.requests.inc({ route: 'rest', backend: backend.name, outcome: 'ok' });
    backend.observe(result.latency_ms);
    return { ...result, backend: backend.name };
  });
}
