import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModel } from './helpers/fixtures.js';
import { spawnService } from './helpers/processes.js';
import { startTestProxy } from './helpers/proxy.js';
import { buildRecording, streamPaced } from './helpers/recording.js';
import { startTestService, TEST_MODEL } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';

type Message = { type: string; seq?: number; final?: boolean; text?: string; stable?: string; language?: string; audio_ms?: number; code?: string; error?: string; partials?: boolean; backend?: string };

const WORDS = syntheticText(fixtureModel('base'), 20);
/** Two long utterances (5.9 s English, 3.9 s Korean), 1.5 s apart: long enough to be re-decoded while they run. */
const recording = buildRecording(['picovoice-leopard/test_en.wav', 'picovoice-leopard/test_ko.wav'], 1500);
const isFinal = (m: Message) => (m.type === 'transcript' && m.final !== false) || (m.type === 'error' && m.seq !== undefined);

/**
 * Streams the recording in real time (32 ms chunks, as a microphone) and collects everything until
 * both finals are in; `beforeChunk` sees what has arrived so far.
 */
async function converse(c: TestClient, beforeChunk?: (atMs: number, messages: Message[]) => Promise<void>): Promise<Message[]> {
  const messages: Message[] = [];
  let done = false;
  const reading = (async () => {
    while (messages.filter(isFinal).length < recording.clips.length) messages.push(await c.next<Message>(30_000));
    done = true;
  })();
  await streamPaced(recording.pcm, (chunk) => c.ws.send(chunk), { chunkMs: 32, beforeChunk: beforeChunk && ((atMs) => beforeChunk(atMs, messages)) });
  await reading;
  expect(done).toBe(true);
  // Anything sent after the last final would arrive right behind it.
  await new Promise((r) => setTimeout(r, 500));
  c.flush();
  for (;;) {
    const m = await c.next<Message>(10_000);
    messages.push(m);
    if (isFinal(m)) break;
  }
  return messages;
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
    service = await startTestService();
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
    expectPartials(await converse(c));
    await c.close();
  });

  it('sends partials through the proxy, renumbered like the other events, when a config message asks for them', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server`);
    c.ws.send(JSON.stringify({ type: 'config', partials: true }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', turns: 'server', partials: true });
    expectPartials(await converse(c));
    await c.close();
  });

  it('sends none when partials are off', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server`);
    c.ws.send(JSON.stringify({ type: 'config' }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', partials: false });
    const messages = await converse(c);
    expect(messages.filter((m) => m.type === 'partial')).toEqual([]);
    expect(messages.filter(isFinal).slice(0, 2).map((m) => m.text)).toEqual([WORDS, WORDS]);
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
    const env = { STT_MODEL: TEST_MODEL() };
    const [a, b] = await Promise.all([spawnService('stt/cpu_ws/src/main.ts', env), spawnService('stt/cpu_ws/src/main.ts', env)]);
    const relay = await startTestProxy({ cpu: a.url, gpu: b.url });
    try {
      const c = await TestClient.connect(`${relay.ws}/ws/transcribe?turns=server&partials=1`);
      let killedAfter: Message | undefined;
      const messages = await converse(c, async (atMs, seen) => {
        if (killedAfter) return;
        // The first backend dies once the client holds stable words of the first utterance (or,
        // failing that, near its end, where the assertion below then says what was missing).
        const committed = seen.find((m) => m.type === 'partial' && m.seq === 1 && m.stable);
        if (committed || atMs >= recording.clips[0]!.endMs - 300) {
          killedAfter = committed ?? { type: 'none' };
          await a.stop('SIGKILL');
        }
      });
      expect(killedAfter, 'stable words of seq 1 arrived before the kill').toMatchObject({ type: 'partial', seq: 1 });
      expectPartialOrder(messages);
      const finals = messages.filter(isFinal);
      expect(finals.map((f) => [f.seq, f.backend])).toEqual([
        [1, 'gpu'],
        [2, 'gpu'],
        [3, 'gpu'],
      ]);
      await c.close();
    } finally {
      await relay.close();
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
