import { parseServiceConfig, runServiceMain } from '@vtuber-stt/core';

// The founding document's main recognizer: Whisper base on the CPU.
await runServiceMain(() => parseServiceConfig({ name: 'stt_cpu_ws', port: 8001, model: 'base', device: 'cpu' }));
