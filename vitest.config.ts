import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['stt/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Whisper saturates both cores: files run one at a time so timings and timeouts stay sane.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
