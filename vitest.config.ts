import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['stt/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Two files at a time on two cores: most of a file's time is sockets, processes and Chromium
    // waiting, not whisper (test services decode on one thread, so two files' decodes do not spin
    // against each other). Measured on this 2-core machine, whole suite: one at a time 450 s,
    // two at a time without isolation 249 s.
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
    // Files share a worker's module cache: each file no longer pays for importing the engine,
    // onnxruntime and fastify again (about 0.5-1.5 s each). Nothing in the suite relies on a fresh
    // module state; every file starts and closes its own services.
    isolate: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
