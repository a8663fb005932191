/**
 * What one stream's echo canceller costs: CPU time of reference() + process() + drain() per
 * second of microphone audio, fed live in 20 ms chunks. The calls are synchronous on the
 * event loop, so their wall time is their CPU time; the best of a few runs drops scheduling noise.
 */
import { createEchoCanceller, SAMPLE_RATE, type EchoOptions } from '@vtuber-stt/core';
import { cancelLive, type Playback } from '../../test/helpers/echo_scene.js';

export interface Cost {
  audio_s: number;
  ms_per_audio_s: number;
  x_realtime: number;
}

export function measureCost(mic: Float32Array, playbacks: Playback[], options: EchoOptions = {}, runs = 3): Cost {
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const ec = createEchoCanceller(options);
    const t0 = performance.now();
    cancelLive(ec, mic, playbacks, 320);
    best = Math.min(best, performance.now() - t0);
    ec.close();
  }
  const audio = mic.length / SAMPLE_RATE;
  return { audio_s: Math.round(audio * 10) / 10, ms_per_audio_s: Math.round((best / audio) * 100) / 100, x_realtime: Math.round(audio / (best / 1000)) };
}
