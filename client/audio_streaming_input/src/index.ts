export * from './audio_buffer.js';
export * from './capture.js';
export * from './sources.js';
export * from './streamer.js';
