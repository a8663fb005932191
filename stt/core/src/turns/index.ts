/**
 * `@vtuber-stt/core/turns`: what a browser page needs to speak the protocol and cut utterances
 * (the control panel). No Node built-ins and no `ws` may be reachable from here: the panel is
 * bundled from it, and test/control_panel.test.ts walks its import graph to keep it so.
 */
export * from './segmenter.js';
export * from './final_clock.js';
export * from '../audio/sample_log.js';
export { FLUSH_COMMAND, isFinalAnswer } from '../protocol/wire.js';
export type * from '../protocol/messages.js';
