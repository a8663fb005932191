import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, SAMPLE_RATE, type RunningService } from '@vtuber-stt/core';
import type { RunningProxy } from '@vtuber-stt/proxy';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { commitOnce, RealtimeClient } from './helpers/realtime_client.js';
import { TestClient } from './helpers/ws_client.js';

type Message = { type: string; session?: string; live?: boolean; seq?: number; event?: string; text?: string; final?: boolean; code?: string; error?: string };

const WORDS = syntheticText(fixtureModel('base'), 20);
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
const silence = (ms: number) => Buffer.alloc(Math.round((ms / 1000) * SAMPLE_RATE) * 2);
const KEY = 'stt-test-key-0123456789abcdef';
const LISTEN = 'stt-listen-key-0123456789abcd';
/** Messages a listener hears (never the replies to the speaker's own commands). */
const heard = (m: Message) => !['config', 'reset', 'session'].includes(m.type);
const isFinal = (m: Message) => m.type === 'transcript' && m.final !== false;

/** Reads until `want`, keeping everything read in `into`. */
async function until(c: TestClient, into: Message[], want: (m: Message) => boolean): Promise<Message> {
  for (;;) {
    const m = await c.next<Message>();
    into.push(m);
    if (want(m)) return m;
  }
}

/** How a handshake to `url` is refused, or `open` when it is not. */
function handshake(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> } | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> }));
    });
    ws.once('error', (e) => (e.message.includes('Unexpected server response') ? undefined : reject(e)));
  });
}

/**
 * Named sessions and their listeners (issue 20, items 1 and 2): a transcription connection that
 * names its session is heard by every `/ws/events` listener of that name, in order, labelled;
 * a listener that joins mid-turn gets the turn in progress; listeners only listen.
 */
describe('named sessions and listeners on the proxy', () => {
  let service: RunningService & { ws: string };
  let proxy: RunningProxy & { ws: string };
  let keyed: RunningProxy & { ws: string };

  beforeAll(async () => {
    service = await startTestService();
    proxy = await startTestProxy({ cpu: service.url });
    keyed = await startTestProxy({ cpu: service.url }, { apiKeys: [KEY], backendApiKey: undefined, listenKeys: [LISTEN] });
  });
  afterAll(async () => {
    await keyed?.close();
    await proxy?.close();
    await service?.close();
  });

  it('every listener hears what the speaker hears, in order, labelled; one that joins mid-turn gets the turn in progress', async () => {
    const early = await Promise.all([0, 1].map(() => TestClient.connect(`${proxy.ws}/ws/events?session=main`)));
    for (const l of early) expect(await l.next<Message>()).toEqual({ type: 'session', session: 'main', live: false, muted: false, assistant_speaking: false });

    const speaker = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server&turn_events=1&session=main`);
    for (const l of early) expect(await l.next<Message>()).toEqual({ type: 'session', session: 'main', live: true, muted: false, assistant_speaking: false });
    const spoken: Message[] = [];
    // Speech with no pause after it: the turn stays open while a listener joins.
    speaker.sendAudio(Buffer.concat([silence(300), speech]));
    await until(speaker, spoken, (m) => m.type === 'turn' && m.event === 'start');
    const listed = (await fetch(`${proxy.url}/api/sessions`).then((r) => r.json())) as { sessions: unknown[] };
    expect(listed.sessions).toContainEqual({ name: 'main', live: true, muted: false, listeners: 2 });
    const late = await TestClient.connect(`${proxy.ws}/ws/events?session=main`);
    const lateHeard: Message[] = [];
    expect(await late.next<Message>()).toEqual({ type: 'session', session: 'main', live: true, muted: false, assistant_speaking: false });
    await until(late, lateHeard, (m) => m.type === 'turn' && m.event === 'start');
    expect(lateHeard.map((m) => m.type)).toEqual(['speech_start', 'turn']);

    speaker.sendAudio(silence(1500));
    await until(speaker, spoken, (m) => m.type === 'turn' && m.event === 'end');
    const expected = spoken.filter(heard).map((m) => ({ ...m, session: 'main' }));
    expect(expected.some(isFinal)).toBe(true);
    for (const l of early) {
      const got: Message[] = [];
      for (let i = 0; i < expected.length; i++) got.push(await l.next<Message>());
      expect(got).toEqual(expected);
    }
    await until(late, lateHeard, (m) => m.type === 'turn' && m.event === 'end');
    expect(lateHeard.find(isFinal)).toMatchObject({ seq: 1, text: WORDS, session: 'main' });

    await speaker.close();
    for (const l of [...early, late]) expect(await l.next<Message>()).toEqual({ type: 'session', session: 'main', live: false, muted: false, assistant_speaking: false });
    await Promise.all([...early, late].map((l) => l.close()));
  });

  it('session=a,b follows several microphones, each event labelled with its own', async () => {
    const listener = await TestClient.connect(`${proxy.ws}/ws/events?session=alice,bob`);
    const greeting = [await listener.next<Message>(), await listener.next<Message>()];
    expect(greeting).toEqual([
      { type: 'session', session: 'alice', live: false, muted: false, assistant_speaking: false },
      { type: 'session', session: 'bob', live: false, muted: false, assistant_speaking: false },
    ]);
    const bob = await TestClient.connect(`${proxy.ws}/ws/transcribe?session=bob`);
    expect(await listener.next<Message>()).toMatchObject({ type: 'session', session: 'bob', live: true });
    bob.sendAudio(speech);
    bob.flush();
    expect(await bob.next<Message>()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS });
    expect(await listener.next<Message>()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, session: 'bob' });
    // An unnamed session is private: nobody hears it.
    const privateOne = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    privateOne.sendAudio(speech);
    privateOne.flush();
    await privateOne.next<Message>();
    await Promise.all([bob.close(), privateOne.close()]);
    expect(await listener.next<Message>()).toMatchObject({ type: 'session', session: 'bob', live: false, muted: false });
    await listener.close();
  });

  it('one speaker per session: a second is refused (1013, why), the first goes on; bad names and listeners that talk get clear errors', async () => {
    const first = await TestClient.connect(`${proxy.ws}/ws/transcribe?session=solo`);
    const second = await TestClient.connect(`${proxy.ws}/ws/transcribe?session=solo`);
    expect(await second.next<Message>()).toMatchObject({ type: 'error', code: 'session_in_use' });
    const closed = await second.closed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toContain('already has a speaking connection');
    first.sendAudio(speech);
    first.flush();
    expect(await first.next<Message>()).toMatchObject({ type: 'transcript', text: WORDS });

    for (const url of [`${proxy.ws}/ws/events`, `${proxy.ws}/ws/events?session=${'x'.repeat(65)}`, `${proxy.ws}/ws/events?session=a%20b`, `${proxy.ws}/ws/transcribe?session=..%2Fetc`]) {
      const c = await TestClient.connect(url);
      const why = await c.closed;
      expect(why.code, url).toBe(1008);
      expect(why.reason, url).toMatch(/session/);
    }

    const listener = await TestClient.connect(`${proxy.ws}/ws/events?session=solo`);
    expect(await listener.next<Message>()).toMatchObject({ type: 'session', live: true });
    listener.ws.send(speech.subarray(0, 3200));
    expect(await listener.next<Message>()).toMatchObject({ type: 'error', code: 'bad_message' });
    listener.ws.send('{"type":"config"}');
    const refused = await listener.next<Message>();
    expect(refused).toMatchObject({ type: 'error', code: 'bad_message' });
    expect(refused.error).toContain('listeners only listen');
    // Still listening.
    first.sendAudio(speech);
    first.flush();
    await first.next<Message>();
    expect(await listener.next<Message>()).toMatchObject({ type: 'transcript', text: WORDS, session: 'solo' });
    await Promise.all([first.close(), listener.close()]);
  });

  it('mute: POST /api/sessions/:name/mute ends the turn at once, audio while muted is not heard, everyone sees the state', async () => {
    const speaker = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server&turn_events=1&session=ptt`);
    const spoken: Message[] = [];
    speaker.sendAudio(Buffer.concat([silence(300), speech]));
    await until(speaker, spoken, (m) => m.type === 'speech_start');
    const listener = await TestClient.connect(`${proxy.ws}/ws/events?session=ptt`);
    expect(await listener.next<Message>()).toMatchObject({ type: 'session', live: true, muted: false });

    const muted = await fetch(`${proxy.url}/api/sessions/ptt/mute`, { method: 'POST' });
    expect(muted.status).toBe(200);
    expect(await muted.json()).toEqual({ session: 'ptt', muted: true });
    // The turn in progress ends now, answered with what was said before.
    const final = await until(speaker, spoken, isFinal);
    expect(final).toMatchObject({ seq: 1, text: WORDS, ended_by: 'mute' });
    expect(spoken.some((m) => m.type === 'mute' && (m as { muted?: boolean }).muted === true)).toBe(true);
    // The proxy's own command is answered to nobody: the speaker never asked, so no config ack reaches it.
    expect(spoken.some((m) => m.type === 'config')).toBe(false);
    const listened: Message[] = [];
    await until(listener, listened, isFinal);
    expect(listened.find((m) => m.type === 'mute')).toMatchObject({ muted: true, session: 'ptt' });
    const listed = (await fetch(`${proxy.url}/api/sessions`).then((r) => r.json())) as { sessions: unknown[] };
    expect(listed.sessions).toContainEqual({ name: 'ptt', live: true, muted: true, listeners: 1 });

    // Speech while muted is accepted and never heard; unmuted (the speaker's own message), the next flush finds nothing open.
    speaker.sendAudio(Buffer.concat([speech, silence(1500)]));
    speaker.ws.send(JSON.stringify({ type: 'unmute' }));
    speaker.flush();
    const empty = await until(speaker, spoken, (m) => isFinal(m) && m.seq === 2);
    expect(empty).toMatchObject({ text: '', ended_by: 'flush' });
    expect(spoken.filter((m) => m.type === 'speech_start').map((m) => m.seq)).toEqual([1]);
    expect(spoken.filter((m) => m.type === 'mute').map((m) => (m as { muted?: boolean }).muted)).toEqual([true, false]);
    // And heard again once unmuted.
    speaker.sendAudio(Buffer.concat([speech, silence(1500)]));
    expect(await until(speaker, spoken, (m) => isFinal(m) && m.seq === 3)).toMatchObject({ text: WORDS, ended_by: 'silence' });

    const nobody = await fetch(`${proxy.url}/api/sessions/nobody/mute`, { method: 'POST' });
    expect(nobody.status).toBe(404);
    expect(await nobody.json()).toMatchObject({ code: 'session_not_found' });
    expect((await fetch(`${proxy.url}/api/sessions/bad%20name/mute`, { method: 'POST' })).status).toBe(400);
    await Promise.all([speaker.close(), listener.close()]);
  });

  it("the VTuber's speech: POST /api/sessions/:name/assistant and a listener's assistant_speech reach the session, everyone sees it; bad ones are refused and the session goes on", async () => {
    const speaker = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server&session=vt`);
    const listener = await TestClient.connect(`${proxy.ws}/ws/events?session=vt`);
    expect(await listener.next<Message>()).toMatchObject({ type: 'session', live: true, assistant_speaking: false });
    const post = (name: string, body: string) => fetch(`${proxy.url}/api/sessions/${name}/assistant`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

    const started = await post('vt', JSON.stringify({ state: 'start', text: 'Hello everyone!' }));
    expect(started.status).toBe(200);
    expect(await started.json()).toEqual({ session: 'vt', state: 'start' });
    const start = { type: 'assistant', state: 'start', text: 'Hello everyone!' };
    expect(await listener.next<Message>()).toMatchObject({ ...start, session: 'vt' });
    // The speaker sees the event, never the ack of the proxy's own command.
    expect(await speaker.next<Message>()).toMatchObject(start);
    // The brain, listening, says it stopped: over the events socket; and streams what it plays.
    listener.ws.send(JSON.stringify({ type: 'assistant_audio', audio: Buffer.alloc(960).toString('base64'), sample_rate: 24000 }));
    listener.ws.send(JSON.stringify({ type: 'assistant_speech', state: 'end' }));
    expect(await listener.next<Message>()).toMatchObject({ type: 'assistant', state: 'end', session: 'vt' });
    expect(await speaker.next<Message>()).toMatchObject({ type: 'assistant', state: 'end' });

    // 1 MB of text, on every way in: a clear error, and everything goes on.
    const huge = 'x'.repeat(1_000_000);
    const tooLarge = await post('vt', JSON.stringify({ state: 'start', text: huge }));
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ code: 'body_too_large' });
    listener.ws.send(JSON.stringify({ type: 'assistant_speech', state: 'start', text: huge }));
    expect(await listener.next<Message>()).toMatchObject({ type: 'error', code: 'bad_message', error: expect.stringContaining('4000 characters') });
    speaker.ws.send(JSON.stringify({ type: 'assistant_speech', state: 'start', text: huge }));
    expect(await speaker.next<Message>()).toMatchObject({ type: 'error', code: 'bad_message', error: expect.stringContaining('4000 characters') });
    speaker.ws.send(JSON.stringify({ type: 'assistant_audio', audio: 'AA==', sample_rate: 24000 }));
    expect(await speaker.next<Message>()).toMatchObject({ type: 'error', code: 'bad_message', error: expect.stringContaining('whole 16-bit samples') });
    expect((await post('nobody', JSON.stringify({ state: 'end' }))).status).toBe(404);
    expect(await (await post('vt', '{"state":"loud"}')).json()).toMatchObject({ code: 'bad_message' });
    speaker.sendAudio(Buffer.concat([silence(300), speech, silence(1500)]));
    const spoken: Message[] = [];
    expect(await until(speaker, spoken, isFinal)).toMatchObject({ seq: 1, text: WORDS });
    expect(spoken.some((m) => m.type === 'error')).toBe(false);
    await Promise.all([speaker.close(), listener.close()]);
  });

  it('a realtime session names its session the same way: its listeners hear our protocol, turn by turn', async () => {
    const listener = await TestClient.connect(`${proxy.ws}/ws/events?session=rt`);
    await listener.next<Message>();
    const rt = await RealtimeClient.connect(`${proxy.ws}/v1/realtime?intent=transcription&session=rt`);
    expect((await commitOnce(rt, speech)).transcript).toBe(WORDS);
    expect(await listener.next<Message>()).toMatchObject({ type: 'session', session: 'rt', live: true });
    expect(await listener.next<Message>()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, session: 'rt' });
    // A new audio format opens a new upstream, which numbers from 1 again: listeners count on.
    rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcm', rate: 16000 } } } } });
    await rt.next('session.updated');
    rt.append(speech);
    rt.send({ type: 'input_audio_buffer.commit' });
    expect((await rt.next('conversation.item.input_audio_transcription.completed')).transcript).toBe(WORDS);
    expect(await listener.next<Message>()).toMatchObject({ type: 'transcript', seq: 2, text: WORDS, session: 'rt' });
    await rt.close();
    expect(await listener.next<Message>()).toMatchObject({ type: 'session', session: 'rt', live: false });
    await listener.close();
  });

  it('with keys: a listen-only key (STT_LISTEN_KEYS) listens and does nothing else', async () => {
    const auth = (key: string) => ({ authorization: `Bearer ${key}` });
    expect(await handshake(`${keyed.ws}/ws/events?session=main`, auth(LISTEN))).toBe('open');
    expect(await handshake(`${keyed.ws}/ws/events?session=main`, auth(KEY))).toBe('open');
    expect(await handshake(`${keyed.ws}/ws/events?session=main`)).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
    expect(await handshake(`${keyed.ws}/ws/transcribe?session=main`, auth(LISTEN))).toMatchObject({ status: 403, body: { code: 'listen_only' } });
    expect(await handshake(`${keyed.ws}/v1/realtime?intent=transcription`, auth(LISTEN))).toMatchObject({ status: 403 });
    for (const [method, path] of [['GET', '/api/status'], ['PUT', '/api/gpu'], ['POST', '/api/transcribe']] as const) {
      const r = await fetch(`${keyed.url}${path}`, { method, headers: auth(LISTEN), body: method === 'GET' ? undefined : '{}' });
      expect(r.status, path).toBe(403);
      expect(((await r.json()) as Message).code).toBe('listen_only');
    }
    // Nor may it say the VTuber speaks.
    const overlay = await TestClient.connect(`${keyed.ws}/ws/events?session=main`, { headers: auth(LISTEN) });
    await overlay.next<Message>();
    overlay.ws.send(JSON.stringify({ type: 'assistant_speech', state: 'end' }));
    expect(await overlay.next<Message>()).toMatchObject({ type: 'error', code: 'listen_only' });
    await overlay.close();
    const post = await fetch(`${keyed.url}/api/sessions/main/assistant`, { method: 'POST', headers: { ...auth(LISTEN), 'content-type': 'application/json' }, body: '{"state":"end"}' });
    expect(post.status).toBe(403);
    // The full key still does everything.
    expect((await fetch(`${keyed.url}/api/status`, { headers: auth(KEY) })).status).toBe(200);
  });
});
