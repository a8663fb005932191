import type { FastifyReply } from 'fastify';
import { ServiceError } from '@vtuber-stt/core';

/** The reason a request's work is dropped: its client closed the connection before the answer. */
export const clientLeft = () => new ServiceError('aborted', 'the client went away before the answer');

/**
 * A signal that fires when the client of `reply` closes its connection before the answer is
 * sent, so the decode and the transcription it asked for are dropped instead of standing in
 * front of work someone still waits for (a streamer's finals).
 */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  const onClose = () => {
    if (!res.writableFinished) controller.abort(clientLeft());
  };
  // The client may have left while the body was still being parsed.
  if (res.destroyed || res.socket?.destroyed) onClose();
  else res.once('close', onClose);
  return controller.signal;
}
