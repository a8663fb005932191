/**
 * The protocol's runtime values, apart from its zod schemas, so a browser page can speak it
 * without bundling zod (the control panel imports these through `@vtuber-stt/core/turns`).
 */
export const FLUSH_COMMAND = '<flush>';

/** Answers a `<flush>` or ends an utterance: a final transcript, or an error carrying its seq. */
export function isFinalAnswer(message: { type?: unknown; final?: unknown; seq?: unknown }): boolean {
  if (typeof message.seq !== 'number') return false;
  if (message.type === 'transcript') return message.final !== false;
  return message.type === 'error';
}
