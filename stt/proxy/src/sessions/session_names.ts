import { ServiceError } from '@vtuber-stt/core';

/** A session name: short, and safe in a URL, a log line and a metric. */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Sessions one listener may follow at once (one microphone per collaborator). */
export const MAX_SUBSCRIPTIONS = 16;

export function sessionName(value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new ServiceError('bad_query', `session must be 1 to 64 letters, digits, "-" or "_" (got ${JSON.stringify(String(value).slice(0, 80))})`);
  }
  return value;
}

/** `session=a,b`: the names a listener follows, each once. */
export function sessionNames(value: unknown): string[] {
  if (typeof value !== 'string' || value === '') throw new ServiceError('bad_query', 'session is required: /ws/events?session=main (or session=main,guest)');
  const names = [...new Set(value.split(','))];
  if (names.length > MAX_SUBSCRIPTIONS) throw new ServiceError('bad_query', `at most ${MAX_SUBSCRIPTIONS} sessions per listener (got ${names.length})`);
  return names.map(sessionName);
}
