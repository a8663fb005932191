import { parseServiceConfig, runServiceMain } from '@vtuber-stt/core';

// The founding document's speech detector: Silero decides at once, Whisper tiny checks each new utterance.
await runServiceMain(() =>
  parseServiceConfig({ name: 'stt_tiny_ws', role: 'detect', port: 8003, model: 'tiny', modelEnv: 'STT_TINY_MODEL', device: 'cpu', detector: 'hybrid' }),
);
