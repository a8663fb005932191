/**
 * `@vtuber-stt/core/client`: what a Node client needs (protocol, audio formats, the reconnecting
 * transcriber, the segmenter) without the service side: loading the package root would also load
 * onnxruntime-node, fastify and prom-client, seconds of start-up and native code a client never
 * runs. test/client.test.ts checks what this entry loads.
 */
export * from '../protocol/messages.js';
export * from '../turns/segmenter.js';
export * from '../turns/final_clock.js';
export * from '../audio/format.js';
export * from '../audio/pcm.js';
export * from '../audio/resample.js';
export * from '../audio/wav.js';
export * from '../audio/sample_log.js';
export * from '../protocol/query_format.js';
export * from './resilient_transcriber.js';
export * from './open_socket.js';
