import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];

/** One registry per service, so tests can run several services in one process. */
export function createMetrics(service: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'stt_requests_total',
      help: 'Transcription requests (flushes and REST calls) by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'stt_request_latency_seconds',
      help: 'From flush received to transcript sent',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    inference: new Histogram({
      name: 'stt_inference_seconds',
      help: 'Time inside whisper.cpp per request',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    repetition: new Counter({
      name: 'stt_repetition_total',
      help: 'Results that looped (compression ratio over 2.4): redecoded (fixed by a full-window decode) or cut (repeated tail removed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    audioSeconds: new Counter({
      name: 'stt_audio_seconds_total',
      help: 'Seconds of audio received for transcription',
      registers: [registry],
    }),
    errors: new Counter({
      name: 'stt_errors_total',
      help: 'Errors answered to clients, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    speculative: new Counter({
      name: 'stt_speculative_total',
      help: 'Speculative decodes by outcome: hit (became the final), miss (input changed, decoded again), cancelled (dropped before it ran)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    speculativeWasted: new Counter({
      name: 'stt_speculative_wasted_seconds_total',
      help: 'Engine time spent on speculative decodes that were not used',
      registers: [registry],
    }),
    languageIdentified: new Counter({
      name: 'stt_language_identified_total',
      help: 'Utterances whose language was identified early (auto), by language: their decodes need no second encoder pass',
      labelNames: ['language'] as const,
      registers: [registry],
    }),
    languageMemory: new Counter({
      name: 'stt_language_memory_total',
      help: "Utterances (auto) decoded in their session's remembered language without identifying, by outcome: kept (its text fit the language's script), switched (another script: decoded again in auto)",
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    queueWait: new Histogram({
      name: 'stt_queue_wait_seconds',
      help: 'Time a final decode waited for the engine',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    connections: new Gauge({ name: 'stt_ws_connections', help: 'Open WebSocket connections', registers: [registry] }),
    sessions: new Gauge({ name: 'stt_sessions_active', help: 'Sessions open now (admitted WebSockets on /ws/transcribe and /ws/detect): what stt_capacity_sessions is measured against, and what an autoscaler divides by', registers: [registry] }),
    queueDepth: new Gauge({ name: 'stt_queue_depth', help: 'Inference jobs waiting or running', registers: [registry] }),
    engineBusy: new Gauge({ name: 'stt_engine_busy_ratio', help: 'Share of the last STT_BUSY_WINDOW_MS the engine ran a job (0..1)', registers: [registry] }),
    capacity: new Gauge({ name: 'stt_capacity_sessions', help: 'Sessions this service can carry under STT_MAX_BUSY at the engine time its open sessions cost now (STT_MAX_CONNECTIONS until measured)', registers: [registry] }),
    shed: new Counter({
      name: 'stt_shed_total',
      help: 'Optional engine work not done because finals would wait behind it, by kind: partial, speculative (overtaken by a newer one), language (the session language used instead), detector (a tiny check skipped)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    refused: new Counter({ name: 'stt_sessions_refused_total', help: 'New sessions refused at connect, by reason (at_capacity, busy, not_ready)', labelNames: ['reason'] as const, registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
