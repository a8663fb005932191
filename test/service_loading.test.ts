import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort, spawnService } from './helpers/processes.js';
import { fixtureModel } from './helpers/fixtures.js';
import { TEST_MODEL } from './helpers/service.js';
import { syntheticModel, syntheticText } from './helpers/synthetic_model.js';
import { NapiWhisperEngine } from '@vtuber-stt/core';

type Attempt = { closed: number; error?: unknown } | { accepted: Record<string, unknown> } | { refused: true };

/** One server-turns session: closed by the service (its code, and the error it said first), or accepted (its config ack). */
function attempt(url: string): Promise<Attempt> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    let error: unknown;
    ws.on('error', () => resolve({ refused: true })); // not listening yet
    ws.on('open', () => ws.send(JSON.stringify({ type: 'config' })));
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      // A refusal says why in an error before its close.
      if (message.type === 'error') {
        error = message.code;
        return;
      }
      resolve({ accepted: message });
      ws.close();
    });
    ws.on('close', (code) => resolve({ closed: code, error }));
  });
}

describe('a service with both roles while it loads (as npm start restarts it)', () => {
  it('turns server-turn sessions away with 1013 "try again" until it is ready, never refusing them for good', async () => {
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}/ws/transcribe?turns=server`;
    const env = { PORT: String(port), STT_ROLES: 'transcribe,detect', STT_MODEL: TEST_MODEL(), STT_TINY_MODEL: syntheticModel(fixtureModel('tiny'), 20, { layers: 1 }) };
    const starting = spawnService('stt/cpu_ws/src/main.ts', env);
    const seen: Attempt[] = [];
    let service: Awaited<typeof starting> | undefined;
    void starting.then((s) => (service = s));
    // As a relay retrying a session while the service comes up: until one is accepted.
    for (;;) {
      const a = await attempt(url);
      seen.push(a);
      if ('accepted' in a) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    try {
      expect(seen.filter((a) => 'closed' in a).map((a) => ('closed' in a ? [a.closed, a.error] : 0))).toEqual(seen.filter((a) => 'closed' in a).map(() => [1013, 'not_ready']));
      // It listened, and said "loading", before it was ready: the window where this could go wrong was there.
      expect(seen.some((a) => 'closed' in a)).toBe(true);
      expect(seen.at(-1)).toEqual({ accepted: expect.objectContaining({ type: 'config', turns: 'server' }) });
      // Accepted only once ready.
      const ready = (await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.json())) as { ready: boolean };
      expect(ready.ready).toBe(true);
    } finally {
      await starting.catch(() => undefined);
      await service?.stop();
    }
  }, 90_000);
});

describe('quantized models (whisper.cpp quantize: q8_0 and q5_1 blocks)', () => {
  it.each(['q8_0', 'q5_1'] as const)('loads a %s model in the CPU engine and decodes its words', async (weights) => {
    const path = syntheticModel(fixtureModel('tiny'), 20, { layers: 1, weights });
    // Quantized blocks, not f16: the file is far smaller (q8_0 ~0.57x, q5_1 ~0.43x).
    expect(statSync(path).size).toBeLessThan(0.6 * statSync(TEST_MODEL()).size);
    const engine = await NapiWhisperEngine.load(path, 'cpu');
    try {
      const out = await engine.transcribe(new Float32Array(32_000), { language: 'en', prompt: '', threads: 1, audioCtx: 128, translate: false });
      expect(out.text.trim()).toBe(syntheticText(fixtureModel('tiny'), 20));
    } finally {
      await engine.close();
    }
  });
});
