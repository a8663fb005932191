import type { Backend, Backends } from './backends.js';
import type { ToggleStore } from './toggle_store.js';

/**
 * Which transcription backend a new session uses: the GPU when the toggle is on and the GPU
 * backend is ready, else the CPU. `avoid` is the one that just failed.
 */
export function chooseTranscriber(backends: Backends, toggle: ToggleStore, avoid?: Backend): Backend {
  const { cpu, gpu } = backends;
  const candidates = toggle.gpuEnabled && gpu ? [gpu, cpu] : gpu ? [cpu, gpu] : [cpu];
  const usable = candidates.filter((b) => b !== avoid);
  return usable.find((b) => b.state === 'ready') ?? usable.find((b) => b === cpu) ?? usable[0] ?? cpu;
}
