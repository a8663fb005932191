import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { CONFIGURATION_EXIT_CODE, encodeS16le } from '@vtuber-stt/core';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { syntheticModel, syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';

interface Run {
  code: number | null;
  output: string;
}

/** Runs an entry point as a real process; `until` ends it early once the output matches. */
function runEntry(entry: string, env: Record<string, string>, until?: RegExp, onMatch?: (output: string) => Promise<void>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      env: { ...process.env, PORT: '0', STT_MODEL_DIR: mkdtempSync(join(tmpdir(), 'no-models-')), ...env },
    });
    let output = '';
    let matched = false;
    const onData = (d: Buffer) => {
      output += d.toString();
      if (until && !matched && until.test(output)) {
        matched = true;
        void (onMatch?.(output) ?? Promise.resolve()).finally(() => child.kill('SIGTERM'));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('entry points', () => {
  it('cpu_ws exits at once when its model is missing, saying how to get it', async () => {
    const r = await runEntry('stt/cpu_ws/src/main.ts', { STT_MODEL: 'base' });
    // EX_CONFIG: npm start's supervisor does not restart it.
    expect(r.code).toBe(CONFIGURATION_EXIT_CODE);
    expect(r.output).toContain('npm run models -- pull base');
  });

  it('gpu_ws refuses to start without a GPU, saying why', async () => {
    const r = await runEntry('stt/gpu_ws/src/main.ts', { STT_MODEL: fixtureModel('base') });
    expect(r.code).toBe(CONFIGURATION_EXIT_CODE);
    expect(r.output).toMatch(/STT_DEVICE=gpu but no NVIDIA GPU is visible/);
  });

  it('rejects invalid settings before loading anything', async () => {
    const r = await runEntry('stt/cpu_ws/src/main.ts', { STT_MODEL: fixtureModel('base'), STT_THREADS: 'many' });
    expect(r.code).toBe(CONFIGURATION_EXIT_CODE);
    expect(r.output).toContain('STT_THREADS (--threads): must be a number (got "many")');
  });

  it('npm start stops at once on a setting that is wrong, naming it, instead of restarting its services', async () => {
    const r = await runEntry('scripts/start.ts', { STT_API_KEYS: 'secret1' });
    expect(r.code).toBe(CONFIGURATION_EXIT_CODE);
    expect(r.output).toContain('STT_API_KEYS: every API key must have at least 16 characters');
    expect(r.output).toMatch(/(stt_cpu_ws|stt_proxy) stopped on its configuration \(code 78\), which a restart would meet again; stopping the stack/);
    expect(r.output).not.toContain('restarting it in');
    expect(r.output).not.toMatch(/pid \d+ \(restart/);
  });

  it('gpu_ws with STT_DEVICE=auto falls back to CPU, logs it, serves, and stops cleanly', async () => {
    let ready: Record<string, unknown> = {};
    const r = await runEntry(
      'stt/gpu_ws/src/main.ts',
      { STT_MODEL: fixtureModel('tiny'), STT_DEVICE: 'auto', HOST: '127.0.0.1' },
      /ready on ws:\/\/127\.0\.0\.1:(\d+)\/ws\/transcribe/,
      async (output) => {
        const port = /ready on ws:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1];
        ready = (await fetch(`http://127.0.0.1:${port}/ready`).then((res) => res.json())) as Record<string, unknown>;
      },
    );
    expect(r.output).toMatch(/fell back to CPU/);
    expect(ready).toMatchObject({ ready: true, device: 'cpu', service: 'stt_gpu_ws' });
    expect(r.code).toBe(0);
  });

  it('tiny_ws with STT_DETECTOR=silero needs no Whisper model and serves /ws/detect', async () => {
    let ready: Record<string, unknown> = {};
    const r = await runEntry('stt/tiny_ws/src/main.ts', { STT_DETECTOR: 'silero', HOST: '127.0.0.1' }, /ready on ws:\/\/127\.0\.0\.1:(\d+)\/ws\/detect/, async (output) => {
      const port = /ready on ws:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1];
      ready = (await fetch(`http://127.0.0.1:${port}/ready`).then((res) => res.json())) as Record<string, unknown>;
    });
    expect(ready).toMatchObject({ ready: true, service: 'stt_tiny_ws', detector: 'silero' });
    expect(r.code).toBe(0);
  });

  it('cpu_ws with STT_ROLES=transcribe,detect (as npm start runs it) serves both routes from one scheduler', async () => {
    let ready: Record<string, unknown> = {};
    let detectReply: Record<string, unknown> = {};
    let transcribeReply: Record<string, unknown> = {};
    const r = await runEntry(
      'stt/cpu_ws/src/main.ts',
      { STT_ROLES: 'transcribe,detect', STT_MODEL: syntheticModel(fixtureModel('base'), 20, { layers: 1 }), STT_TINY_MODEL: syntheticModel(fixtureModel('tiny'), 20, { layers: 1 }), HOST: '127.0.0.1' },
      /ready on ws:\/\/127\.0\.0\.1:(\d+)\/ws\/transcribe and ws:\/\/127\.0\.0\.1:\d+\/ws\/detect/,
      async (output) => {
        const port = /ready on ws:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1];
        ready = (await fetch(`http://127.0.0.1:${port}/ready`).then((res) => res.json())) as Record<string, unknown>;
        const detect = await TestClient.connect(`ws://127.0.0.1:${port}/ws/detect`);
        detect.sendAudio(encodeS16le(loadClip('speechbrain/spk1_snt1.wav')), 1024);
        detectReply = await detect.next();
        await detect.close();
        const transcribe = await TestClient.connect(`ws://127.0.0.1:${port}/ws/transcribe`);
        transcribe.sendAudio(encodeS16le(loadClip('speechbrain/spk1_snt1.wav')));
        transcribe.flush();
        transcribeReply = await transcribe.next();
        await transcribe.close();
      },
    );
    // Both models on one scheduler may use every core: one computation at a time.
    expect(ready).toMatchObject({ ready: true, roles: ['transcribe', 'detect'], detector: 'hybrid', threads: availableParallelism() });
    expect(r.output).toMatch(/detector model/);
    expect(detectReply).toMatchObject({ type: 'detect' });
    expect(transcribeReply).toMatchObject({ type: 'transcript', seq: 1, text: syntheticText(fixtureModel('base'), 20) });
    expect(r.code).toBe(0);
  });

  it('tiny_ws in hybrid mode exits when the tiny model is missing, saying how to get it', async () => {
    const r = await runEntry('stt/tiny_ws/src/main.ts', { STT_DETECTOR: 'hybrid' });
    expect(r.code).toBe(CONFIGURATION_EXIT_CODE);
    expect(r.output).toContain('npm run models -- pull tiny');
  });
});
