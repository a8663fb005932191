import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModel } from './helpers/fixtures.js';
import { spawnService } from './helpers/processes.js';
import { startTestProxy } from './helpers/proxy.js';
import { buildRecording, feeder } from './helpers/recording.js';
import { startTestService } from './helpers/service.js';
import { syntheticModel, syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';
import { until } from './helpers/wait.js';

type Message = { type: string; seq?: number; final?: boolean; text?: string; stable?: string; language?: string; audio_ms?: number; inference_ms?: number; ended_by?: string; code?: string; error?: string; partials?: boolean; backend?: string };

/** The tiny architecture: partials are re-decodes, and every one of them costs the test real time. */
const MODEL = () => syntheticModel(fixtureModel('tiny'), 20, { layers: 1 });
const WORDS = syntheticText(fixtureModel('tiny'), 20);
/** Two long utterances (5.9 s English, 3.9 s Korean), 1.5 s apart: long enough to be re-decoded while they run. */
const recording = buildRecording(['picovoice-leopard/test_en.wav', 'picovoice-leopard/test_ko.wav'], 1500);
const isFinal = (m: Message) => (m.type === 'transcript' && m.final !== false) || (m.type === 'error' && m.seq !== undefined);
const CHUNK_MS = 32;
/** The service's partial interval (STT_PARTIAL_INTERVAL_MS default): speech growth between two partial decodes. */
const PARTIAL_INTERVAL_MS = 1000;

/**
 * Streams the recording to every client in 32 ms chunks, as a microphone cuts it, but only as
 * slowly as partials need, paced by the first client's (the driver's) partials: the first second
 * of the first utterance at once (its language is identified after 800 ms of speech); then a
 * chunk per 32 ms while the engine works (a partial is decoded only on a window that arrives
 * while the engine is idle); after each partial of seq 1, at once the speech it must grow by
 * before the next (the interval, or three times that partial's decode). Once the driver holds
 * stable words of seq 1 (or near its end, where the assertions then say what was missing)
 * `beforeRest` acts and the rest goes at once. Every client hears each chunk when the driver does.
 * Collects each client's messages until both finals are in, then flushes and adds the flush's.
 */
async function converse(clients: TestClient[], beforeRest?: (seen: Message[]) => Promise<void>): Promise<Message[][]> {
  const inboxes = clients.map((): Message[] => []);
  let wake = () => {};
  const readers = clients.map(async (c, i) => {
    const messages = inboxes[i]!;
    while (messages.filter(isFinal).length < recording.clips.length) {
      messages.push(await c.next<Message>(30_000));
      if (i === 0) wake();
    }
  });
  const feeds = clients.map((c) => feeder(recording.pcm, (chunk) => c.ws.send(chunk), CHUNK_MS));
  const seen = inboxes[0]!;
  const first = recording.clips[0]!;
  const last = first.endMs - 300;
  const partials = () => seen.filter((m) => m.type === 'partial' && m.seq === 1);
  let at = first.startMs + 1000;
  let counted = 0;
  for (;;) {
    for (const f of feeds) f.to(Math.min(at, last));
    if (at >= last || partials().some((m) => m.stable)) break;
    await Promise.race([new Promise<void>((r) => (wake = r)), new Promise((r) => setTimeout(r, CHUNK_MS))]);
    const got = partials();
    if (got.length > counted) {
      counted = got.length;
      at += Math.max(PARTIAL_INTERVAL_MS, 3 * (got.at(-1)!.inference_ms ?? 0)) + 200;
    } else at += CHUNK_MS;
  }
  await beforeRest?.(seen);
  for (const f of feeds) f.rest();
  await Promise.all(readers);
  for (const messages of inboxes) {
    // Both utterances ended on their own silence, before anything was flushed.
    expect(messages.filter(isFinal).map((m) => [m.type, m.seq, m.ended_by])).toEqual([
      ['transcript', 1, 'silence'],
      ['transcript', 2, 'silence'],
    ]);
  }
  // The flush is handled after every chunk before it: whatever the recording's utterances still
  // sent arrives ahead of its (empty) final, and is checked with the rest.
  for (const c of clients) c.flush();
  await Promise.all(
    clients.map(async (c, i) => {
      for (;;) {
        const m = await c.next<Message>(10_000);
        inboxes[i]!.push(m);
        if (isFinal(m)) return expect(m).toMatchObject({ type: 'transcript', seq: 3, text: '', ended_by: 'flush' });
      }
    }),
  );
  return inboxes;
}

/**
 * The partial contract: per seq, partials come after its speech_start and before its final, each
 * one's `stable` extends the previous one's, `text` starts with `stable`; none comes after the
 * final of its seq.
 */
function expectPartialOrder(messages: Message[]): void {
  for (const seq of [1, 2]) {
    const start = messages.findIndex((m) => m.type === 'speech_start' && m.seq === seq);
    const final = messages.findIndex((m) => isFinal(m) && m.seq === seq);
    expect(messages[final]).toMatchObject({ type: 'transcript', text: WORDS });
    let stable = '';
    messages.forEach((m, at) => {
      if (m.type !== 'partial' || m.seq !== seq) return;
      expect(at, `partial of seq ${seq} after its speech_start`).toBeGreaterThan(start);
      expect(at, `partial of seq ${seq} before its final`).toBeLessThan(final);
      expect(m.text!.startsWith(m.stable!), `text starts with stable: ${JSON.stringify(m)}`).toBe(true);
      expect(m.stable!.startsWith(stable), `stable only grows: ${JSON.stringify(stable)} then ${JSON.stringify(m.stable)}`).toBe(true);
      expect(m.text).not.toBe('');
      expect(typeof m.audio_ms).toBe('number');
      stable = m.stable!;
    });
  }
}

/** The order above, and enough partials that the agreement had something to agree on. */
function expectPartials(messages: Message[]): Message[] {
  expectPartialOrder(messages);
  const partials = messages.filter((m) => m.type === 'partial');
  // The long English utterance is re-decoded at least twice while it runs: two hypotheses that
  // agree (the synthetic model says the same words for any audio) make every word stable.
  const first = partials.filter((m) => m.seq === 1);
  expect(first.length).toBeGreaterThanOrEqual(2);
  expect(first[0]).toMatchObject({ stable: '', text: WORDS, language: 'en' });
  expect(first.at(-1)).toMatchObject({ stable: WORDS, text: WORDS });
  return partials;
}

describe('live partial transcripts (server turns)', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  beforeAll(async () => {
    service = await startTestService({ model: MODEL() });
    proxy = await startTestProxy({ cpu: service.url });
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('sends partials while each utterance runs, stable prefix growing, none after its final (?partials=1)', async () => {
    const c = await TestClient.connect(`${service.ws}?turns=server&partials=1`);
    c.ws.send(JSON.stringify({ type: 'config' }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', turns: 'server', partials: true });
    const [messages] = await converse([c]);
    expectPartials(messages!);
    await c.close();
  });

  it('sends partials through the proxy, renumbered like the other events, when a config message asks for them', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server`);
    c.ws.send(JSON.stringify({ type: 'config', partials: true }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', turns: 'server', partials: true });
    const [messages] = await converse([c]);
    expectPartials(messages!);
    await c.close();
  });

  it('sends none when partials are off', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server`);
    c.ws.send(JSON.stringify({ type: 'config' }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', partials: false });
    // Fed alongside a connection with partials on, chunk for chunk: that one gets them.
    const driver = await TestClient.connect(`${service.ws}?turns=server&partials=1`);
    const [withPartials, messages] = await converse([driver, c]);
    expectPartials(withPartials!);
    expect(messages!.filter((m) => m.type === 'partial')).toEqual([]);
    expect(messages!.filter(isFinal).slice(0, 2).map((m) => m.text)).toEqual([WORDS, WORDS]);
    await Promise.all([c.close(), driver.close()]);
  });

  it('sheds the partials that fall due while the engine is busy (counted once per interval), and the final still answers', async () => {
    const queue = service.state.transcriber!.queue;
    const shed = async () => Number(/^stt_shed_total\{[^}]*kind="partial"[^}]*\} (\d+)/m.exec(await fetch(`${service.url}/metrics`).then((r) => r.text()))?.[1] ?? 0);
    const before = await shed();
    let release!: () => void;
    const held = queue.push(() => new Promise<void>((r) => (release = r))); // the engine busy, as with another stream's decode
    const c = await TestClient.connect(`${service.ws}?turns=server&partials=1`);
    c.ws.send(JSON.stringify({ type: 'config', language: 'en' }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', partials: true });
    const one = buildRecording(['picovoice-leopard/test_en.wav'], 1500);
    c.sendAudio(one.pcm);
    await until(() => queue.finalsWaiting === 1); // its turn ended on its silence; the final waits
    // 5.9 s of speech at one partial per second of growth: a handful, not one per 32 ms window.
    const count = (await shed()) - before;
    expect(count).toBeGreaterThanOrEqual(2);
    expect(count).toBeLessThanOrEqual(6);
    release();
    await held;
    const messages: Message[] = [];
    while (!messages.some(isFinal)) messages.push(await c.next<Message>());
    expect(messages.filter((m) => m.type === 'partial')).toEqual([]);
    expect(messages.find(isFinal)).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, ended_by: 'silence' });
    await c.close();
  });

  it('refuses partials with <flush> turns: in the query (1008 with the reason) and in a config message (bad_message)', async () => {
    const refused = new TestClient(`${service.ws}?partials=1`);
    expect(await refused.next<Message>()).toMatchObject({ type: 'error', code: 'bad_query', error: expect.stringMatching(/partials need server-side turns/) });
    expect((await refused.closed).code).toBe(1008);

    const c = await TestClient.connect(service.ws);
    c.ws.send(JSON.stringify({ type: 'config', partials: true }));
    expect(await c.next<Message>()).toMatchObject({ type: 'error', code: 'bad_message', error: expect.stringMatching(/partials need server-side turns/) });
    // Both at once is fine: server turns with partials.
    c.ws.send(JSON.stringify({ type: 'config', turns: 'server', partials: true }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', turns: 'server', partials: true });
    // And back to <flush> turns only with partials off.
    c.ws.send(JSON.stringify({ type: 'config', turns: 'flush' }));
    expect(await c.next<Message>()).toMatchObject({ type: 'error', code: 'bad_message' });
    c.ws.send(JSON.stringify({ type: 'config', turns: 'flush', partials: false }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', turns: 'flush', partials: false });
    await c.close();
  });

  it('keeps the stable prefix through a failover: the replacement backend starts its agreement afresh, the client never sees it shrink', async () => {
    // The first backend a process of its own (it is killed), the replacement the file's service.
    const a = await spawnService('stt/cpu_ws/src/main.ts', { STT_MODEL: MODEL() });
    const relay = await startTestProxy({ cpu: a.url, gpu: service.url });
    try {
      const c = await TestClient.connect(`${relay.ws}/ws/transcribe?turns=server&partials=1`);
      let killedAfter: Message | undefined;
      const [messages] = await converse([c], async (seen) => {
        // The first backend dies once the client holds stable words of the first utterance (or,
        // failing that, near its end, where the assertion below then says what was missing).
        killedAfter = seen.find((m) => m.type === 'partial' && m.seq === 1 && m.stable) ?? { type: 'none' };
        await a.stop('SIGKILL');
      });
      expect(killedAfter, 'stable words of seq 1 arrived before the kill').toMatchObject({ type: 'partial', seq: 1 });
      expectPartialOrder(messages!);
      const finals = messages!.filter(isFinal);
      expect(finals.map((f) => [f.seq, f.backend])).toEqual([
        [1, 'gpu'],
        [2, 'gpu'],
        [3, 'gpu'],
      ]);
      await c.close();
    } finally {
      await relay.close();
      await a.stop();
    }
  });
});
