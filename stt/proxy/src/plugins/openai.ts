import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { isWhisperLanguage, ServiceError, unknownLanguageMessage, type TranscriptMessage } from '@vtuber-stt/core';
import { audioFile, durationOf, type UpstreamAudio } from '../decode/audio_input.js';
import { decodeSettings } from '../decode/request_audio.js';
import { backendForModel, listedModels, modelId } from '../models.js';
import { openAIErrorBody, OpenAIParamError, toOpenAIError } from '../openai_errors.js';
import { formatTranscript, languagesOf, RESPONSE_FORMATS, type ResponseFormat } from '../openai_format.js';
import { transcribeOnce, type OneShotOptions } from '../rest_transcribe.js';
import { clientGone, clientLeft } from '../client_gone.js';
import { SseStream } from '../sse.js';
import { openStream } from '../stream_transcribe.js';
import { markRefusal, type ProxyContext } from './context.js';

type Task = 'transcribe' | 'translate';

interface AudioRequest {
  file: Buffer;
  fileType?: string;
  model?: string;
  language?: string;
  prompt?: string;
  /** Checked as OpenAI checks it; the services decode greedily and raise it themselves when a decode fails its checks, so it is not passed on. */
  temperature?: number;
  format: ResponseFormat;
  stream: boolean;
  words: boolean;
}

/**
 * What OpenAI's audio form needs and no more: one file and a few short fields (a prompt is at
 * most 1000 characters, 4 KB of UTF-8). Anything past these is refused as it arrives, so a form
 * of many or huge fields costs the proxy at most fields x fieldSize of memory.
 */
export const FORM_LIMITS = { files: 1, fields: 16, parts: 17, fieldSize: 16 * 1024, fieldNameSize: 100, headerPairs: 16 } as const;
/** A whole form may be this much larger than its file: every field at its limit, with its part headers. */
const FORM_OVERHEAD = FORM_LIMITS.fields * (FORM_LIMITS.fieldSize + 1024) + 64 * 1024;
const GRANULARITIES = ['word', 'segment'];
const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

/** A client's value inside an error message, short whatever was sent. */
const quoted = (value: string) => JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);

/** `temperature`: a number from 0 to 1, as OpenAI takes it. */
function temperatureOf(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const t = NUMBER.test(raw) ? Number(raw) : NaN;
  if (!(t >= 0 && t <= 1)) throw new OpenAIParamError(`temperature must be a number from 0 to 1 (got ${quoted(raw)})`, 'temperature');
  return t;
}

/** A multipart failure as the answer it deserves: a limit names itself, a broken or truncated body is the client's 400, never a 500. */
function formError(error: unknown): unknown {
  if (error instanceof ServiceError) return error;
  const e = error as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new OpenAIParamError(`the form has more than ${FORM_LIMITS.fields} fields; OpenAI's audio API takes a file and a few short fields`, null, 'form_too_large');
    case 'FST_FILES_LIMIT':
      return new OpenAIParamError('the form holds more than one file: send the audio as the one file field, named "file"', 'file', 'form_too_large');
    case 'FST_MP_PREMATURE_CLOSE':
      return clientLeft();
  }
  if (e.statusCode && e.statusCode < 500) return error;
  return new OpenAIParamError(`the multipart body is truncated or malformed (${e.message ?? 'unreadable'}): send the whole form`, null, 'invalid_request');
}

/** The multipart form of OpenAI's audio endpoints, checked the way OpenAI checks it. */
async function readForm(request: FastifyRequest): Promise<AudioRequest> {
  if (!request.isMultipart()) throw new OpenAIParamError('send multipart/form-data with a "file" field (OpenAI audio API)', 'file', 'invalid_request');
  const fields = new Map<string, string>();
  const granularities: string[] = [];
  let file: Buffer | undefined;
  let fileType: string | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file') {
          part.file.resume();
          throw new OpenAIParamError(`unexpected file field ${quoted(part.fieldname)}: attach the audio as the one file field, named "file"`, part.fieldname);
        }
        file = await part.toBuffer();
        fileType = part.mimetype;
      } else if (part.valueTruncated || part.fieldnameTruncated) {
        throw new OpenAIParamError(
          `the field ${quoted(part.fieldname)} is longer than ${part.fieldnameTruncated ? `${FORM_LIMITS.fieldNameSize} bytes in its name` : `${FORM_LIMITS.fieldSize} bytes`}; OpenAI's audio fields are short (a prompt is at most 1000 characters)`,
          part.fieldname,
          'form_too_large',
        );
      } else if (part.fieldname === 'timestamp_granularities[]' || part.fieldname === 'timestamp_granularities') granularities.push(String(part.value));
      else fields.set(part.fieldname, String(part.value));
    }
  } catch (error) {
    throw formError(error);
  }
  if (!file) throw new OpenAIParamError('missing "file": attach the audio as a multipart file field named "file"', 'file', 'missing_required_parameter');
  const format = (fields.get('response_format') ?? 'json') as ResponseFormat;
  if (!RESPONSE_FORMATS.includes(format)) throw new OpenAIParamError(`response_format must be one of ${RESPONSE_FORMATS.join(', ')} (got ${quoted(format)})`, 'response_format');
  const language = fields.get('language')?.trim().toLowerCase() || undefined;
  if (language && !isWhisperLanguage(language)) throw new OpenAIParamError(unknownLanguageMessage(language.slice(0, 40)), 'language');
  const prompt = fields.get('prompt');
  if (prompt && prompt.length > 1000) throw new OpenAIParamError('prompt is limited to 1000 characters', 'prompt');
  const temperature = temperatureOf(fields.get('temperature'));
  const bad = granularities.find((g) => !GRANULARITIES.includes(g));
  if (bad) throw new OpenAIParamError(`timestamp_granularities[] must be "word" or "segment" (got ${quoted(bad)})`, 'timestamp_granularities');
  const streamField = fields.get('stream');
  const stream = streamField === 'true' || streamField === '1';
  if (streamField !== undefined && !stream && streamField !== 'false' && streamField !== '0') throw new OpenAIParamError(`stream must be true or false (got ${quoted(streamField)})`, 'stream');
  // Combinations OpenAI refuses are refused here too, rather than one of the two silently ignored.
  if (granularities.length > 0 && format !== 'verbose_json') {
    throw new OpenAIParamError(`timestamp_granularities[] needs response_format "verbose_json" (got ${quoted(format)})`, 'timestamp_granularities');
  }
  if (stream && format !== 'json') {
    throw new OpenAIParamError(`stream=true answers with transcript.text events: response_format must be "json" or left out (got ${quoted(format)})`, 'response_format');
  }
  return { file, fileType, model: fields.get('model'), language, prompt, temperature, format, stream, words: granularities.includes('word') && format === 'verbose_json' };
}

/**
 * OpenAI's audio REST surface under `/v1`: transcriptions (json, text, verbose_json with word
 * times, srt, vtt, or `stream=true` as server-sent events), translations, and the models list.
 * Every error here, 404s included, is in OpenAI's shape.
 */
export async function openaiPlugin(app: FastifyInstance, ctx: ProxyContext): Promise<void> {
  const { config, backends, metrics, choose } = ctx;
  const settings = decodeSettings(config, ctx.logger);
  const created = Math.floor(Date.now() / 1000);
  const bodyLimit = config.maxBodyBytes + FORM_OVERHEAD;
  await app.register(multipart, { limits: { ...FORM_LIMITS, fileSize: config.maxBodyBytes } });

  // A declared length past the limit is refused before a byte of the body is read.
  app.addHook('onRequest', async (request) => {
    const declared = Number(request.headers['content-length']);
    if (declared > (request.routeOptions.bodyLimit ?? bodyLimit)) {
      throw new OpenAIParamError(`the request declares ${declared} bytes; uploads are limited to ${config.maxBodyBytes} bytes (STT_PROXY_MAX_BODY_BYTES)`, 'file', 'body_too_large');
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toOpenAIError(error, config.maxBodyBytes);
    if (status >= 500) ctx.logger.error({ err: error }, 'openai route failed');
    // A body refused before its end is not read on: the connection closes after the answer.
    if (!request.raw.complete) reply.header('connection', 'close');
    markRefusal(reply, error, 'openai', metrics);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(openAIErrorBody('unknown_url', `unknown request URL: ${request.method} ${request.url.split('?')[0]}; this server serves POST /v1/audio/transcriptions, POST /v1/audio/translations, GET /v1/models`)),
  );

  /** The loaded models and OpenAI's names for them, aliases of the model the usual route has. */
  const models = () => {
    const usual = choose().status().model;
    return listedModels(backends, created, usual ? modelId(usual) : undefined);
  };
  app.get('/models', async () => ({ object: 'list', data: models() }));
  app.get('/models/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const model = models().find((m) => m.id === id);
    if (!model) return reply.code(404).send(openAIErrorBody('model_not_found', `the model ${quoted(id)} is not listed here: GET /v1/models lists the loaded model and OpenAI's transcription model names, its aliases (a transcription request takes any name)`, 'model'));
    return model;
  });

  const handle = (task: Task) => async (request: FastifyRequest, reply: FastifyReply) => {
    const route = task === 'translate' ? 'openai_translate' : 'openai';
    const signal = clientGone(reply);
    try {
      const form = await readForm(request);
      const audio = await audioFile(form.file, settings, form.fileType, signal);
      const options: OneShotOptions = { language: form.language, prompt: form.prompt, translate: task === 'translate', words: form.words, signal };
      // A model some service has loaded picks that service, unless the usual route has it too.
      const usual = choose();
      const first = usual.status().model && modelId(usual.status().model!) === form.model ? usual : (backendForModel(backends, form.model) ?? usual);
      if (form.stream) return await streamEvents(reply, audio, options, route, first, signal);
      const { result, backend } = await transcribeOnce(choose, audio, options, first, { wait: ctx.waitForMember, ms: config.holdMs, surface: route, signal });
      metrics.requests.inc({ route, backend: backend.name, outcome: 'ok' });
      backend.observe(result.latency_ms);
      const out = formatTranscript(result, form.format, task, form.words);
      return reply.type(out.type).header('x-stt-backend', backend.name).send(out.body);
    } catch (error) {
      // Work dropped because nobody waits for it: counted, so it shows (and tests can see it).
      if (signal.aborted) metrics.requests.inc({ route, backend: 'none', outcome: 'aborted' });
      throw error;
    }
  };

  /** `stream=true`: each utterance's final as a `transcript.text.delta` as soon as it is decoded, then `transcript.text.done`. */
  async function streamEvents(reply: FastifyReply, audio: UpstreamAudio, options: OneShotOptions, route: string, first: ReturnType<typeof choose>, signal: AbortSignal) {
    let sse: SseStream | undefined;
    let text = '';
    const languages: string[] = [];
    const pending: TranscriptMessage[] = [];
    const onFinal = (t: TranscriptMessage) => {
      if (!sse) return void pending.push(t);
      const words = t.text.trim();
      if (!words) return;
      languages.push(t.language);
      // Deltas concatenate to the whole text, as clients build it: utterances joined by a space.
      const delta = text ? ` ${words}` : words;
      text += delta;
      sse.send({ type: 'transcript.text.delta', delta });
    };
    // Opening may still fail as a plain HTTP error: nothing has been sent yet.
    const { result: handle, backend } = await openStream(choose, audio, options, onFinal, first, { wait: ctx.waitForMember, ms: config.holdMs, surface: `${route}_stream`, signal });
    if (signal.aborted) handle.abort();
    else signal.addEventListener('abort', () => handle.abort(), { once: true });
    sse = new SseStream(reply, { 'x-stt-backend': backend.name });
    for (const t of pending.splice(0)) onFinal(t);
    try {
      await handle.done;
      sse.send({ type: 'transcript.text.done', text, languages: languagesOf(...languages), usage: { type: 'duration', seconds: Math.ceil(durationOf(audio)) } });
      metrics.requests.inc({ route: `${route}_stream`, backend: backend.name, outcome: 'ok' });
    } catch (error) {
      const { body } = toOpenAIError(error, config.maxBodyBytes);
      sse.send({ type: 'error', ...body });
      metrics.requests.inc({ route: `${route}_stream`, backend: backend.name, outcome: signal.aborted ? 'aborted' : 'error' });
    }
    sse.end();
  }

  app.post('/audio/transcriptions', { bodyLimit }, handle('transcribe'));
  app.post('/audio/translations', { bodyLimit }, handle('translate'));
}
