import { describe, expect, it } from 'vitest';
import { encodeS16le, SAMPLE_RATE } from '@vtuber-stt/core';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { serviceBehindProxy } from './helpers/proxy.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';

type Message = { type: string; event?: string; seq?: number; start_ms?: number; end_ms?: number; text?: string; final?: boolean; at_ms?: number; ended_by?: string; dropped?: string; code?: string; error?: string; turn_events?: boolean };

const WORDS = syntheticText(fixtureModel('base'), 20);
const silence = (ms: number) => Buffer.alloc(Math.round((ms / 1000) * SAMPLE_RATE) * 2);
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
/** Turns that a 600 ms pause does not end, whatever the text says (sentence end or not). */
const LONG_WAIT = { type: 'config', end_of_turn_ms: 1500, sentence_end_ms: 1500 };

/**
 * Turn events (issue 20, item 3): what a brain acting on the streamer's turns needs, one meaning
 * each. Driven by the protocol: the second half of the turn is sent once the eager end of the
 * first half has arrived, so the pause is a pause whatever the machine's speed.
 */
describe('turn events on /ws/transcribe (turns=server)', () => {
  const stack = serviceBehindProxy();


  /** Until a message matching `want` arrives; everything read on the way is kept in `seen`. */
  async function until(c: TestClient, seen: Message[], want: (m: Message) => boolean): Promise<Message> {
    for (;;) {
      const m = await c.next<Message>();
      seen.push(m);
      if (want(m)) return m;
    }
  }

  /** Speech, a pause, more speech after the eager end, then the silence that ends the turn. */
  async function converse(c: TestClient): Promise<Message[]> {
    const seen: Message[] = [];
    c.sendAudio(Buffer.concat([silence(300), speech, silence(600)]));
    const eager = await until(c, seen, (m) => m.type === 'turn' && m.event === 'eager_end');
    expect(eager).toMatchObject({ seq: 1, text: WORDS });
    c.sendAudio(Buffer.concat([speech, silence(2000)]));
    await until(c, seen, (m) => m.type === 'turn' && m.event === 'end');
    return seen;
  }

  function expectTurn(seen: Message[]): void {
    const turns = seen.filter((m) => m.type === 'turn');
    expect(turns.every((t) => t.seq === 1)).toBe(true);
    expect(turns.slice(0, 3).map((t) => t.event)).toEqual(['start', 'eager_end', 'resumed']);
    // The second pause may be eager-ended too before the turn ends; nothing else comes between.
    expect(turns.slice(3, -1).every((t) => t.event === 'eager_end')).toBe(true);
    const end = turns.at(-1)!;
    expect(end).toMatchObject({ event: 'end', text: WORDS, ended_by: 'silence' });
    // start at the speech's start, resumed after the eager end, end at the speech's end: one timeline.
    const [start, eager, resumed] = turns;
    expect(start!.at_ms).toBe(seen.find((m) => m.type === 'speech_start')!.start_ms);
    expect(resumed!.at_ms!).toBeGreaterThanOrEqual(eager!.at_ms! - 700);
    expect(end.at_ms).toBe(seen.find((m) => m.type === 'speech_end')!.end_ms);
    // The end follows the final: a listener acting on it has the committed text.
    const final = seen.findIndex((m) => m.type === 'transcript' && m.final !== false);
    expect(final).toBeGreaterThan(-1);
    expect(seen.indexOf(end)).toBeGreaterThan(final);
  }

  it('start, eager_end (with the text so far), resumed when speech comes back, end with the final text', async () => {
    const c = await TestClient.connect(`${stack.service.ws}?turns=server&turn_events=1`);
    c.ws.send(JSON.stringify(LONG_WAIT));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', turn_events: true, end_of_turn_ms: 1500 });
    expectTurn(await converse(c));
    await c.close();
  });

  it('the same through the proxy, asked for by a config message, renumbered onto the client', async () => {
    const c = await TestClient.connect(`${stack.proxy.ws}/ws/transcribe?turns=server`);
    c.ws.send(JSON.stringify({ ...LONG_WAIT, turn_events: true }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', turn_events: true });
    expectTurn(await converse(c));
    await c.close();
  });

  it('eager_end waits for a pause of eager_end_ms: a short pause gives no eager_end/resumed pair, a long one its eager end', async () => {
    const c = await TestClient.connect(`${stack.service.ws}?turns=server&turn_events=1&early=1`);
    c.ws.send(JSON.stringify({ ...LONG_WAIT, eager_end_ms: 900 }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', eager_end_ms: 900 });
    const seen: Message[] = [];
    const early = (m: Message) => m.type === 'transcript' && m.final === false;
    const events = () => seen.filter((m) => m.type === 'turn').map((m) => m.event);
    // A short pause: its early text comes, and speech resumes before the pause reaches 900 ms.
    c.sendAudio(Buffer.concat([silence(300), speech, silence(200)]));
    await until(c, seen, early);
    // A long pause, sent in two steps: its early text comes before 900 ms of silence were heard...
    c.sendAudio(Buffer.concat([speech, silence(400)]));
    await until(c, seen, early);
    expect(events()).toEqual(['start']);
    // ...and the eager end once the silence heard reaches it, with no more text needed.
    c.sendAudio(silence(700));
    expect(await until(c, seen, (m) => m.type === 'turn' && m.event !== 'start')).toMatchObject({ event: 'eager_end', seq: 1, text: WORDS });
    c.sendAudio(silence(1000));
    await until(c, seen, (m) => m.type === 'turn' && m.event === 'end');
    expect(events()).toEqual(['start', 'eager_end', 'end']);
    await c.close();
  });

  it('a reset ends the turn in progress: end, dropped "reset"', async () => {
    const c = await TestClient.connect(`${stack.service.ws}?turns=server&turn_events=1`);
    c.ws.send(JSON.stringify(LONG_WAIT));
    await c.next<Message>();
    const seen: Message[] = [];
    c.sendAudio(Buffer.concat([silence(300), speech]));
    await until(c, seen, (m) => m.type === 'turn' && m.event === 'start');
    c.ws.send(JSON.stringify({ type: 'reset' }));
    expect(await until(c, seen, (m) => m.type === 'turn' && m.event === 'end')).toMatchObject({ seq: 1, text: '', dropped: 'reset' });
    await c.close();
  });

  it('none without asking, and refused where the client ends the turns', async () => {
    const quiet = await TestClient.connect(`${stack.service.ws}?turns=server`);
    quiet.sendAudio(Buffer.concat([silence(300), speech, silence(1500)]));
    const seen: Message[] = [];
    await until(quiet, seen, (m) => m.type === 'transcript' && m.final !== false);
    quiet.ws.send(JSON.stringify({ type: 'config' }));
    await until(quiet, seen, (m) => m.type === 'config');
    expect(seen.some((m) => m.type === 'turn')).toBe(false);
    await quiet.close();

    const flush = await TestClient.connect(`${stack.service.ws}`);
    flush.ws.send(JSON.stringify({ type: 'config', turn_events: true }));
    const refused = await flush.next<Message>();
    expect(refused).toMatchObject({ type: 'error', code: 'bad_message' });
    expect(refused.error).toContain('turns=server');
    // The connection goes on serving.
    flush.sendAudio(speech);
    flush.flush();
    expect(await flush.next<Message>()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS });
    await flush.close();

    const byQuery = await TestClient.connect(`${stack.proxy.ws}/ws/transcribe?turn_events=1`);
    const closed = await byQuery.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toContain('turns=server');
  });
});
