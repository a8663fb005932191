import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le } from '@vtuber-stt/core';
import { resolveHost, type Resolver } from '@vtuber-stt/proxy';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { freePort } from './helpers/processes.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';

const WORDS = syntheticText(fixtureModel('base'), 20);
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
type Member = { url: string; state: string; sessions: number };
type Reply = { type: string; seq?: number; text?: string; code?: string; error?: string };

/**
 * Three transcription services on one port at three loopback addresses, behind one name that
 * resolves to them: what a headless Service or `docker compose --scale` looks like to the proxy.
 */
// A scenario, in order even under --sequence.shuffle: the name's addresses change from step to step.
describe('pools of transcription backends', { shuffle: false }, () => {
  const NAME = 'stt-pool.test';
  const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
  let port: number;
  let addresses = hosts.slice(0, 2);
  const resolver: Resolver = async (host) => (host === NAME ? addresses : resolveHost(host));
  let services: Awaited<ReturnType<typeof startTestService>>[] = [];
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  const clients: TestClient[] = [];

  const members = async (): Promise<Member[]> => {
    const status = (await fetch(`${proxy.url}/api/status`).then((r) => r.json())) as { backends: { cpu: { members: Member[] } } };
    return status.backends.cpu.members;
  };
  const until = async (what: string, ok: (m: Member[]) => boolean) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const m = await members();
      if (ok(m)) return m;
      if (Date.now() > deadline) throw new Error(`${what}: members are ${JSON.stringify(m)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const transcribe = async (c: TestClient): Promise<Reply> => {
    c.sendAudio(speech);
    c.flush();
    return c.next<Reply>(60_000);
  };

  beforeAll(async () => {
    port = await freePort();
    // One whisper.cpp thread each: three services share two cores.
    services = await Promise.all(hosts.map((host) => startTestService({ host, port, threads: 1 })));
    proxy = await startTestProxy({ cpu: `http://${NAME}:${port}` }, {}, { resolver });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await proxy?.close();
    await Promise.all(services.map((s) => s.close().catch(() => undefined)));
  });

  it('expands a name with several addresses into one member per address', async () => {
    const m = await until('two ready members', (all) => all.length === 2 && all.every((x) => x.state === 'ready'));
    expect(m.map((x) => x.url).sort()).toEqual([`http://127.0.0.1:${port}`, `http://127.0.0.2:${port}`]);
  });

  it('gives each new session the least loaded member', async () => {
    for (let i = 0; i < 2; i++) {
      const c = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
      clients.push(c);
      expect(await transcribe(c)).toMatchObject({ type: 'transcript', text: WORDS });
    }
    expect((await members()).map((x) => x.sessions)).toEqual([1, 1]);
  });

  it('adds a member that appears under the name while running, and sends the next session there', async () => {
    addresses = hosts.slice();
    await until('three ready members', (all) => all.length === 3 && all.every((x) => x.state === 'ready'));
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    clients.push(c);
    expect(await transcribe(c)).toMatchObject({ type: 'transcript', text: WORDS });
    const third = (await members()).find((x) => x.url === `http://127.0.0.3:${port}`)!;
    expect(third.sessions).toBe(1);
  });

  it('moves the sessions of a member that dies mid-stream to the others, with no flush lost', async () => {
    // Every session has audio and a flush on the way when the first member goes.
    for (const c of clients) {
      c.sendAudio(speech);
      c.flush();
    }
    await services[0]!.close();
    const answers = await Promise.all(clients.map((c) => c.next<Reply>(60_000)));
    for (const a of answers) expect(a).toMatchObject({ type: 'transcript', text: WORDS });
    // And they go on serving where they are now.
    for (const c of clients) expect(await transcribe(c)).toMatchObject({ type: 'transcript', text: WORDS });
    const m = await until('first member down', (all) => all.find((x) => x.url === `http://127.0.0.1:${port}`)?.state === 'down');
    expect(m.filter((x) => x.state === 'ready').reduce((n, x) => n + x.sessions, 0)).toBe(3);
    expect(m.find((x) => x.url === `http://127.0.0.1:${port}`)!.sessions).toBe(0);
  });

  it('drops a member whose address leaves the name', async () => {
    addresses = hosts.slice(1);
    const m = await until('two members', (all) => all.length === 2);
    expect(m.map((x) => x.url).sort()).toEqual([`http://127.0.0.2:${port}`, `http://127.0.0.3:${port}`]);
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    clients.push(c);
    expect(await transcribe(c)).toMatchObject({ type: 'transcript', text: WORDS });
  });

  it('takes several URLs in STT_CPU_URL as one pool', async () => {
    const two = await startTestProxy({ cpu: `http://127.0.0.2:${port}, http://127.0.0.3:${port}` });
    try {
      const status = (await fetch(`${two.url}/api/status`).then((r) => r.json())) as { backends: { cpu: { state: string; members: Member[] } } };
      expect(status.backends.cpu.state).toBe('ready');
      expect(status.backends.cpu.members.map((x) => x.url)).toEqual([`http://127.0.0.2:${port}`, `http://127.0.0.3:${port}`]);
    } finally {
      await two.close();
    }
  });
});
