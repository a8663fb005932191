import { parseServiceConfig, runServiceMain } from '@vtuber-stt/core';

// Same service on a CUDA build of whisper.cpp; STT_DEVICE=auto lets it start on a CPU-only host.
await runServiceMain(() => parseServiceConfig({ name: 'stt_gpu_ws', port: 8002, model: 'base', device: 'gpu' }));
