import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ProxyState {
  gpu_enabled: boolean;
}

/** The GPU toggle, kept in a small JSON file so it survives restarts (written atomically). */
export class ToggleStore {
  private state: ProxyState;

  constructor(readonly path: string) {
    this.state = { gpu_enabled: false };
    try {
      const saved = JSON.parse(readFileSync(path, 'utf8')) as Partial<ProxyState>;
      if (typeof saved.gpu_enabled === 'boolean') this.state.gpu_enabled = saved.gpu_enabled;
    } catch {
      // No file yet (first start) or unreadable: start with the GPU off.
    }
  }

  get gpuEnabled(): boolean {
    return this.state.gpu_enabled;
  }

  setGpuEnabled(enabled: boolean): void {
    this.state = { ...this.state, gpu_enabled: enabled };
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.state, null, 2)}\n`);
    renameSync(tmp, this.path);
  }
}
