import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, type RunningService } from '@vtuber-stt/core';
import type { RunningProxy } from '@vtuber-stt/proxy';
import { signature } from '../stt/proxy/src/sessions/webhook.js';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';

const WORDS = syntheticText(fixtureModel('base'), 20);
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
const SECRET = 'whsec-test-0123456789abcdef';

interface Received {
  key: string;
  signature: string;
  body: string;
  answered: number | 'hung';
}

/**
 * A real receiver that is down (answers 500, then hangs past the proxy's timeout) until told to
 * recover, recording every attempt.
 */
async function receiver() {
  const attempts: Received[] = [];
  let up = false;
  let failures = 0;
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const record: Received = { key: String(req.headers['idempotency-key']), signature: String(req.headers['x-stt-signature']), body, answered: 200 };
      attempts.push(record);
      if (up) return res.writeHead(200).end('ok');
      // Down: a refusal, then a hang, alternately.
      if (failures++ % 2 === 0) {
        record.answered = 500;
        return res.writeHead(500).end('down');
      }
      record.answered = 'hung';
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    attempts,
    recover: () => (up = true),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('webhook: committed turns of named sessions POSTed to STT_WEBHOOK_URL', () => {
  let service: RunningService & { ws: string };
  let proxy: RunningProxy & { ws: string };
  let hook: Awaited<ReturnType<typeof receiver>>;

  beforeAll(async () => {
    hook = await receiver();
    service = await startTestService();
    proxy = await startTestProxy({ cpu: service.url }, { webhook: { url: hook.url, secret: SECRET, timeoutMs: 200, maxQueue: 100, retryDelayMs: 50, maxDelayMs: 200 } });
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
    await hook?.close();
  });

  it('a receiver that fails and times out delays nothing; once it recovers every turn arrives, signed, once per key', async () => {
    const speaker = await TestClient.connect(`${proxy.ws}/ws/transcribe?session=hook`);
    // Three turns answered while the receiver is down: the transcripts do not wait for it.
    for (let seq = 1; seq <= 3; seq++) {
      speaker.sendAudio(speech);
      speaker.flush();
      expect(await speaker.next()).toMatchObject({ type: 'transcript', seq, text: WORDS });
    }
    // An unnamed session is nobody's turn to report.
    const privateOne = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    privateOne.sendAudio(speech);
    privateOne.flush();
    await privateOne.next();
    await privateOne.close();
    expect(hook.attempts.every((a) => a.answered !== 200)).toBe(true);

    hook.recover();
    const deadline = Date.now() + 20_000;
    while (new Set(hook.attempts.filter((a) => a.answered === 200).map((a) => a.key)).size < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

    const delivered = hook.attempts.filter((a) => a.answered === 200);
    const keys = [...new Set(delivered.map((a) => a.key))];
    expect(keys).toHaveLength(3);
    // In order, each turn's own key (session, connection, seq); a retried one has the same key and body.
    expect(keys.map((k) => k.split('-').at(-1))).toEqual(['1', '2', '3']);
    expect(keys.every((k) => k.startsWith('hook-'))).toBe(true);
    for (const key of keys) expect(new Set(hook.attempts.filter((a) => a.key === key).map((a) => a.body)).size).toBe(1);
    // The failures were retried: the first turn was attempted more than once.
    expect(hook.attempts.filter((a) => a.key === keys[0]).length).toBeGreaterThan(1);
    for (const a of hook.attempts) {
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(a.signature);
      expect(m, a.signature).not.toBeNull();
      expect(m![2]).toBe(signature(SECRET, Number(m![1]), a.body));
    }
    const first = JSON.parse(delivered[0]!.body) as Record<string, unknown>;
    expect(first).toMatchObject({ type: 'turn.committed', session: 'hook', seq: 1, text: WORDS });
    await speaker.close();
  });

  it('drops a delivery the receiver refuses for good (410): no retry, and the next turn is still delivered', async () => {
    const seen: string[] = [];
    const gone = createServer((req, res) => {
      seen.push(String(req.headers['idempotency-key']));
      req.resume();
      res.writeHead(seen.length === 1 ? 410 : 200).end();
    });
    gone.listen(0, '127.0.0.1');
    await new Promise((r) => gone.once('listening', r));
    const url = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/hook`;
    const other = await startTestProxy({ cpu: service.url }, { webhook: { url, timeoutMs: 200, maxQueue: 100, retryDelayMs: 50, maxDelayMs: 200 } });
    try {
      const speaker = await TestClient.connect(`${other.ws}/ws/transcribe?session=gone`);
      for (let seq = 1; seq <= 2; seq++) {
        speaker.sendAudio(speech);
        speaker.flush();
        await speaker.next();
      }
      const deadline = Date.now() + 10_000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // One attempt each: the 410 was not retried, and it did not hold up the second turn.
      expect(seen.map((k) => k.split('-').at(-1))).toEqual(['1', '2']);
      await speaker.close();
    } finally {
      await other.close();
      gone.closeAllConnections();
      await new Promise<void>((r) => gone.close(() => r()));
    }
  });
});
