import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import type { TranscriptMessage } from '@vtuber-stt/core';
import { audioFile, durationOf, type UpstreamAudio } from '../decode/audio_input.js';
import { decodeSettings } from '../decode/request_audio.js';
import { backendForModel, loadedModels, modelId } from '../models.js';
import { openAIErrorBody, OpenAIParamError, toOpenAIError } from '../openai_errors.js';
import { formatTranscript, RESPONSE_FORMATS, type ResponseFormat } from '../openai_format.js';
import { transcribeOnce, type OneShotOptions } from '../rest_transcribe.js';
import { SseStream } from '../sse.js';
import { openStream } from '../stream_transcribe.js';
import type { ProxyContext } from './context.js';

type Task = 'transcribe' | 'translate';

interface AudioRequest {
  file: Buffer;
  fileType?: string;
  model?: string;
  language?: string;
  prompt?: string;
  format: ResponseFormat;
  stream: boolean;
  words: boolean;
}

const LANGUAGE = /^(auto|[a-z]{2,3})$/;
const GRANULARITIES = ['word', 'segment'];

/** The multipart form of OpenAI's audio endpoints, checked the way OpenAI checks it. */
async function readForm(request: FastifyRequest): Promise<AudioRequest> {
  if (!request.isMultipart()) throw new OpenAIParamError('send multipart/form-data with a "file" field (OpenAI audio API)', 'file', 'invalid_request');
  const fields: Record<string, string> = {};
  const granularities: string[] = [];
  let file: Buffer | undefined;
  let fileType: string | undefined;
  for await (const part of request.parts()) {
    if (part.type === 'file') {
      const bytes = await part.toBuffer();
      if (part.fieldname === 'file') {
        file = bytes;
        fileType = part.mimetype;
      }
    } else if (part.fieldname === 'timestamp_granularities[]' || part.fieldname === 'timestamp_granularities') granularities.push(String(part.value));
    else fields[part.fieldname] = String(part.value);
  }
  if (!file) throw new OpenAIParamError('missing "file": attach the audio as a multipart file field named "file"', 'file', 'missing_required_parameter');
  const format = (fields.response_format ?? 'json') as ResponseFormat;
  if (!RESPONSE_FORMATS.includes(format)) throw new OpenAIParamError(`response_format must be one of ${RESPONSE_FORMATS.join(', ')} (got "${format}")`, 'response_format');
  const language = fields.language?.trim().toLowerCase() || undefined;
  if (language && !LANGUAGE.test(language)) throw new OpenAIParamError(`language must be an ISO-639-1 code such as "en" or "ko" (got "${fields.language}")`, 'language');
  if (fields.prompt && fields.prompt.length > 1000) throw new OpenAIParamError('prompt is limited to 1000 characters', 'prompt');
  const bad = granularities.find((g) => !GRANULARITIES.includes(g));
  if (bad) throw new OpenAIParamError(`timestamp_granularities[] must be "word" or "segment" (got "${bad}")`, 'timestamp_granularities');
  const stream = fields.stream === 'true' || fields.stream === '1';
  if (fields.stream !== undefined && !stream && fields.stream !== 'false' && fields.stream !== '0') throw new OpenAIParamError(`stream must be true or false (got "${fields.stream}")`, 'stream');
  return { file, fileType, model: fields.model, language, prompt: fields.prompt, format, stream, words: granularities.includes('word') && format === 'verbose_json' };
}

/**
 * OpenAI's audio REST surface under `/v1`: transcriptions (json, text, verbose_json with word
 * times, srt, vtt, or `stream=true` as server-sent events), translations, and the models list.
 * Every error here, 404s included, is in OpenAI's shape.
 */
export async function openaiPlugin(app: FastifyInstance, ctx: ProxyContext): Promise<void> {
  const { config, backends, metrics, choose } = ctx;
  const settings = decodeSettings(config);
  const created = Math.floor(Date.now() / 1000);
  await app.register(multipart, { limits: { fileSize: config.maxBodyBytes, files: 1 } });

  app.setErrorHandler((error, _request, reply) => {
    const { status, body } = toOpenAIError(error, config.maxBodyBytes);
    if (status >= 500) ctx.logger.error({ err: error }, 'openai route failed');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(openAIErrorBody('unknown_url', `unknown request URL: ${request.method} ${request.url.split('?')[0]}; this server serves POST /v1/audio/transcriptions, POST /v1/audio/translations, GET /v1/models`)),
  );

  app.get('/models', async () => ({ object: 'list', data: loadedModels(backends, created) }));
  app.get('/models/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const model = loadedModels(backends, created).find((m) => m.id === id);
    if (!model) return reply.code(404).send(openAIErrorBody('model_not_found', `the model "${id}" is not loaded here; GET /v1/models lists what is`, 'model'));
    return model;
  });

  const handle = (task: Task) => async (request: FastifyRequest, reply: FastifyReply) => {
    const form = await readForm(request);
    const audio = await audioFile(form.file, settings, form.fileType);
    const options: OneShotOptions = { language: form.language, prompt: form.prompt, translate: task === 'translate', words: form.words };
    const route = task === 'translate' ? 'openai_translate' : 'openai';
    // A model some service has loaded picks that service, unless the usual route has it too.
    const usual = choose();
    const first = usual.status().model && modelId(usual.status().model!) === form.model ? usual : (backendForModel(backends, form.model) ?? usual);
    if (form.stream) return streamEvents(reply, audio, options, route, first);
    const { result, backend } = await transcribeOnce(choose, audio, options, first);
    metrics.requests.inc({ route, backend: backend.name, outcome: 'ok' });
    backend.observe(result.latency_ms);
    const out = formatTranscript(result, form.format, task, form.words);
    return reply.type(out.type).header('x-stt-backend', backend.name).send(out.body);
  };

  /** `stream=true`: each utterance's final as a `transcript.text.delta` as soon as it is decoded, then `transcript.text.done`. */
  async function streamEvents(reply: FastifyReply, audio: UpstreamAudio, options: OneShotOptions, route: string, first?: ReturnType<typeof choose>) {
    let sse: SseStream | undefined;
    let text = '';
    const pending: TranscriptMessage[] = [];
    const onFinal = (t: TranscriptMessage) => {
      if (!sse) return void pending.push(t);
      const words = t.text.trim();
      if (!words) return;
      // Deltas concatenate to the whole text, as clients build it: utterances joined by a space.
      const delta = text ? ` ${words}` : words;
      text += delta;
      sse.send({ type: 'transcript.text.delta', delta });
    };
    // Opening may still fail as a plain HTTP error: nothing has been sent yet.
    const { result: handle, backend } = await openStream(choose, audio, options, onFinal, first);
    sse = new SseStream(reply, { 'x-stt-backend': backend.name });
    reply.raw.on('close', () => handle.abort());
    for (const t of pending.splice(0)) onFinal(t);
    try {
      await handle.done;
      sse.send({ type: 'transcript.text.done', text, usage: { type: 'duration', seconds: Math.ceil(durationOf(audio)) } });
      metrics.requests.inc({ route: `${route}_stream`, backend: backend.name, outcome: 'ok' });
    } catch (error) {
      const { body } = toOpenAIError(error, config.maxBodyBytes);
      sse.send({ type: 'error', ...body });
      metrics.requests.inc({ route: `${route}_stream`, backend: backend.name, outcome: 'error' });
    }
    sse.end();
  }

  app.post('/audio/transcriptions', handle('transcribe'));
  app.post('/audio/translations', handle('translate'));
}
