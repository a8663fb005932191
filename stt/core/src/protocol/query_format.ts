import { DEFAULT_FORMAT, MAX_RATE, MIN_RATE, type PcmFormat } from '../audio/format.js';
import { encodingSchema } from './messages.js';
import { ServiceError } from './errors.js';

export class QueryFormatError extends ServiceError {
  constructor(message: string) {
    super('bad_query', message);
  }
}

/** `?sample_rate=48000&encoding=f32le&channels=2`: what the client will send. */
export function formatFromQuery(query: Record<string, unknown>): PcmFormat {
  const format = { ...DEFAULT_FORMAT };
  const rate = query.sample_rate;
  if (rate !== undefined) {
    const n = Number(rate);
    if (!Number.isInteger(n) || n < MIN_RATE || n > MAX_RATE) throw new QueryFormatError(`sample_rate must be an integer from ${MIN_RATE} to ${MAX_RATE} (got "${String(rate)}")`);
    format.sampleRate = n;
  }
  if (query.encoding !== undefined) {
    const parsed = encodingSchema.safeParse(query.encoding);
    if (!parsed.success) throw new QueryFormatError(`encoding must be s16le or f32le (got "${String(query.encoding)}")`);
    format.encoding = parsed.data;
  }
  if (query.channels !== undefined) {
    const n = Number(query.channels);
    if (!Number.isInteger(n) || n < 1 || n > 8) throw new QueryFormatError(`channels must be 1 to 8 (got "${String(query.channels)}")`);
    format.channels = n;
  }
  return format;
}

function flag(query: Record<string, unknown>, name: string): boolean {
  const value = query[name];
  if (value !== undefined && !['1', '0', 'true', 'false'].includes(String(value))) throw new QueryFormatError(`${name} must be 1, 0, true or false (got "${String(value)}")`);
  return value === '1' || value === 'true';
}

/** `?turns=server&early=1&partials=1&turn_events=1`: who ends utterances, and whether speculative text, partial text and turn events are wanted. */
export function turnsFromQuery(query: Record<string, unknown>): { turns: 'flush' | 'server'; early: boolean; partials: boolean; turnEvents: boolean } {
  const turns = query.turns ?? 'flush';
  if (turns !== 'flush' && turns !== 'server') throw new QueryFormatError(`turns must be "flush" or "server" (got "${String(turns)}")`);
  const early = flag(query, 'early');
  const partials = flag(query, 'partials');
  if (partials && turns !== 'server') throw new QueryFormatError('partials need server-side turns: add turns=server');
  const turnEvents = flag(query, 'turn_events');
  if (turnEvents && turns !== 'server') throw new QueryFormatError('turn_events need server-side turns: add turns=server');
  return { turns, early, partials, turnEvents };
}
