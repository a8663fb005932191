export * from './capture.js';
export * from './sources.js';
export * from './streamer.js';
