import { existsSync, readdirSync } from 'node:fs';
import type { Device } from './types.js';

export type DeviceRequest = Device | 'auto';

export interface DeviceProbe {
  /** An NVIDIA GPU is visible to this process (driver loaded, device nodes present). */
  gpuPresent(): boolean;
  /** A CUDA build of whisper.cpp can be loaded. */
  gpuEngineAvailable(): Promise<boolean>;
}

export interface DeviceChoice {
  device: Device;
  /** Why this device: printed at start so an operator sees a fallback. */
  reason: string;
}

export class DeviceError extends Error {}

export const systemProbe = (loadGpuEngine: () => Promise<unknown>): DeviceProbe => ({
  gpuPresent() {
    if (existsSync('/dev/nvidia0')) return true;
    try {
      return readdirSync('/proc/driver/nvidia/gpus').length > 0;
    } catch {
      return false;
    }
  },
  async gpuEngineAvailable() {
    return (await loadGpuEngine()) !== undefined;
  },
});

export function parseDeviceRequest(value: string | undefined): DeviceRequest {
  const v = (value ?? 'auto').trim().toLowerCase();
  if (v === 'cpu' || v === 'gpu' || v === 'auto') return v;
  if (v === 'cuda') return 'gpu';
  throw new DeviceError(`STT_DEVICE must be cpu, gpu or auto (got "${value}")`);
}

/** `gpu` is a promise: without a usable GPU it refuses to start; `auto` degrades to CPU and says so. */
export async function chooseDevice(request: DeviceRequest, probe: DeviceProbe): Promise<DeviceChoice> {
  if (request === 'cpu') return { device: 'cpu', reason: 'STT_DEVICE=cpu' };
  const present = probe.gpuPresent();
  const engine = present && (await probe.gpuEngineAvailable());
  if (present && engine) return { device: 'gpu', reason: `STT_DEVICE=${request}: NVIDIA GPU found` };
  const why = !present
    ? 'no NVIDIA GPU is visible (no /dev/nvidia0; in Docker, run with the gpu profile / --gpus all)'
    : 'a GPU is present but no CUDA build of whisper.cpp is installed (use the stt_gpu_ws image)';
  if (request === 'gpu') throw new DeviceError(`STT_DEVICE=gpu but ${why}`);
  return { device: 'cpu', reason: `STT_DEVICE=auto fell back to CPU: ${why}` };
}
