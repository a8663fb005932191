import WebSocket from 'ws';
import { FLUSH_COMMAND, type TranscriptMessage } from '@vtuber-stt/core';
import type { Backend } from './backends.js';

export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface OneShotOptions {
  language?: string;
  prompt?: string;
  timeoutMs?: number;
}

const CHUNK = 256 * 1024;

/** One utterance (16 kHz s16le) through a backend's /ws/transcribe: the REST routes' only path to an engine. */
function transcribeVia(backend: Backend, pcm: Buffer, options: OneShotOptions): Promise<TranscriptMessage> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(backend.wsUrl('/ws/transcribe'));
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new UpstreamError(`${backend.name} backend did not answer within ${options.timeoutMs ?? 120_000} ms`, 504, 'timeout'));
    }, options.timeoutMs ?? 120_000);
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      fn();
    };
    socket.on('open', () => {
      const config: Record<string, unknown> = { type: 'config' };
      if (options.language) config.language = options.language;
      if (options.prompt) config.prompt = options.prompt;
      if (Object.keys(config).length > 1) socket.send(JSON.stringify(config));
      for (let i = 0; i < pcm.length; i += CHUNK) socket.send(pcm.subarray(i, i + CHUNK));
      socket.send(FLUSH_COMMAND);
    });
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      if (message.type === 'transcript') finish(() => resolve(message as unknown as TranscriptMessage));
      else if (message.type === 'error') {
        const code = String(message.code);
        const status = code === 'overloaded' ? 503 : code === 'buffer_full' || code === 'frame_too_large' ? 413 : code === 'bad_message' || code === 'bad_audio' ? 400 : 502;
        finish(() => reject(new UpstreamError(String(message.error), status, code)));
      }
    });
    socket.on('error', (error) => finish(() => reject(new UpstreamError(`${backend.name} backend unreachable: ${error.message}`, 502, 'unreachable'))));
    socket.on('close', (code, reason) =>
      finish(() => reject(new UpstreamError(`${backend.name} backend closed the connection (${code} ${reason.toString()})`, 502, 'unreachable'))),
    );
  });
}

/** Tries the chosen backend, then the other one if the first could not be reached or broke. */
export async function transcribeOnce(
  choose: (avoid?: Backend) => Backend,
  pcm: Buffer,
  options: OneShotOptions,
): Promise<{ result: TranscriptMessage; backend: Backend }> {
  const first = choose();
  try {
    return { result: await transcribeVia(first, pcm, options), backend: first };
  } catch (error) {
    if (!(error instanceof UpstreamError) || (error.code !== 'unreachable' && error.code !== 'overloaded')) throw error;
    if (error.code === 'unreachable') first.markDown(error.message);
    const second = choose(first);
    if (second === first) throw error;
    return { result: await transcribeVia(second, pcm, options), backend: second };
  }
}
