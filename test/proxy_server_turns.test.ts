import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ResilientTranscriber, type ConnectionEvent, type RunningService } from '@vtuber-stt/core';
import { fixtureModel } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { buildRecording, feeder, type Recording } from './helpers/recording.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { switchableWay } from './helpers/tcp_tap.js';
import { TestClient } from './helpers/ws_client.js';
import { until } from './helpers/wait.js';

type Message = {
  type: string;
  seq?: number;
  final?: boolean;
  text?: string;
  start_ms?: number;
  end_ms?: number;
  decided_ms?: number;
  ended_by?: string;
  backend?: string;
  code?: string;
  segments?: { start_ms: number; end_ms: number }[];
};

const WORDS = syntheticText(fixtureModel('base'), 20);
/** Three utterances, 1.5 s apart: two English sentences and a Korean one. */
const recording = buildRecording(['speechbrain/spk1_snt1.wav', 'speechbrain/spk1_snt2.wav', 'picovoice-leopard/test_ko.wav'], 1500);
const [first, second] = recording.clips as [Recording['clips'][number], Recording['clips'][number]];
/** Pauses inside a sentence must not end it; the 1.5 s between sentences must. */
const TURNS = JSON.stringify({ type: 'config', end_of_turn_ms: 1000, sentence_end_ms: 1000 });
/** A proxy that gives up on a dead backend, and tries again, in a fraction of a second (STT_PROXY_RETRY_MS, STT_PROXY_RETRY_ROUND_MS). */
const FAST_RETRY = { retryDelayMs: 20, exhaustedDelayMs: 100 };
/** STT_PROXY_HOLD_MS turned down: these tests are about what comes past the hold. */
const SHORT_HOLD_MS = 150;
const isFinal = (m: Message) => (m.type === 'transcript' && m.final !== false) || (m.type === 'error' && m.seq !== undefined);
const answered = (messages: Message[], seq: number) => messages.some((m) => isFinal(m) && m.seq === seq);
const started = (messages: Message[], seq: number) => messages.some((m) => m.type === 'speech_start' && m.seq === seq);
const finals = (messages: Message[]) => messages.filter(isFinal).length;

// The service's turns run on the audio clock (the VAD's windows, the end of turn counted in
// samples), so every test below sends the recording as fast as the sockets take it, and acts at
// points in the audio once the protocol says they are reached (a start seen, a final answered, a
// loss noticed), never after a sleep.

/** What a session went through, compactly: messages by type and seq, connection events, audio held. */
const trailOf = (messages: Message[], events: ConnectionEvent[], holds: () => number[]) => () => ({
  messages: messages.map((m) => [m.type, m.seq, m.final, m.start_ms, m.end_ms]),
  events: events.map((e) => [e.type, e.detail]),
  held_ms: holds(),
});

/** Everything a client hears, added to `seen`, until `done` says so (or `ms` pass). */
async function collect(c: TestClient, done: (seen: Message[]) => boolean, seen: Message[] = [], ms = 30_000): Promise<Message[]> {
  const deadline = performance.now() + ms;
  while (!done(seen)) seen.push(await c.next<Message>(Math.max(1, deadline - performance.now())));
  return seen;
}

/**
 * The server-mode contract as a client sees it: per seq one speech_start, one speech_end and one
 * final, in that order (speculative text between start and final), seqs 1..n in order, and every
 * offset on the client's own timeline, inside the clip that utterance is.
 */
function expectUtterances(messages: Message[], rec: Recording): Message[] {
  const answers = messages.filter(isFinal);
  expect(answers.map((f) => f.seq)).toEqual(rec.clips.map((_, i) => i + 1));
  rec.clips.forEach((clip, i) => {
    const seq = i + 1;
    const of = (type: string) => messages.map((m, at) => ({ m, at })).filter(({ m }) => m.seq === seq && m.type === type && m.final !== false);
    const starts = of('speech_start');
    const ends = of('speech_end');
    const final = messages.findIndex((m) => m.seq === seq && isFinal(m));
    expect(starts, `seq ${seq}: one speech_start`).toHaveLength(1);
    expect(ends, `seq ${seq}: one speech_end`).toHaveLength(1);
    expect(starts[0]!.at).toBeLessThan(ends[0]!.at);
    expect(ends[0]!.at).toBeLessThan(final);
    messages.forEach((m, at) => {
      if (m.seq === seq && m.type === 'transcript' && m.final === false) {
        expect(at).toBeGreaterThan(starts[0]!.at);
        expect(at).toBeLessThan(final);
      }
    });
    const start = starts[0]!.m.start_ms!;
    const end = ends[0]!.m;
    const f = messages[final]!;
    expect(f).toMatchObject({ type: 'transcript', final: true, text: WORDS, ended_by: 'silence' });
    // Inside this clip on the client's clock (the VAD's windows are 32 ms; the speech may begin after the clip's lead-in).
    expect(start).toBeGreaterThanOrEqual(clip.startMs - 64);
    expect(start).toBeLessThan(clip.endMs);
    // After a failover the final comes from another backend's hearing of the same audio.
    expect(Math.abs(f.start_ms! - start)).toBeLessThanOrEqual(96);
    expect(end.end_ms).toBe(f.end_ms);
    expect(f.end_ms!).toBeGreaterThan(start);
    expect(f.end_ms!).toBeLessThanOrEqual(clip.endMs + 160); // the last speech window and the frame hold
    expect(end.decided_ms!).toBeGreaterThanOrEqual(end.end_ms! + 900);
    expect(f.segments!.length).toBeGreaterThan(0);
    for (const s of f.segments!) {
      expect(s.start_ms).toBeGreaterThanOrEqual(clip.startMs - 1000);
      expect(s.end_ms).toBeLessThanOrEqual(end.decided_ms! + 64);
    }
  });
  return answers;
}

let service: RunningService;
beforeAll(async () => {
  service = await startTestService();
});
afterAll(async () => {
  await service?.close();
});

describe('server-side turns through the proxy', () => {
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  beforeAll(async () => {
    proxy = await startTestProxy({ cpu: service.url });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('relays one final per utterance of a recording, in order, with its events, on the client timeline', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server&early=1`);
    c.ws.send(TURNS);
    expect(await c.next()).toMatchObject({ type: 'config', turns: 'server', end_of_turn_ms: 1000 });
    feeder(recording.pcm, (chunk) => c.ws.send(chunk), 64).rest();
    const messages = await collect(c, (seen) => finals(seen) >= recording.clips.length);
    const answers = expectUtterances(messages, recording);
    expect(answers.every((f) => f.backend === 'cpu')).toBe(true);
    await c.close();
  });

  it('switches to server turns on an acknowledged config message, and answers <flush> with the utterance it ends', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe`);
    c.ws.send(JSON.stringify({ type: 'config', turns: 'server' }));
    expect(await c.next()).toMatchObject({ type: 'config', turns: 'server' });
    // Stop in the middle of the first sentence, then end it by hand.
    feeder(recording.pcm, (chunk) => c.ws.send(chunk)).to((first.startMs + first.endMs) / 2);
    const start = await c.next<Message>();
    expect(start).toMatchObject({ type: 'speech_start', seq: 1 });
    c.flush();
    const [end, final] = await collect(c, (seen) => finals(seen) >= 1);
    expect(end).toMatchObject({ type: 'speech_end', seq: 1 });
    expect(final).toMatchObject({ type: 'transcript', seq: 1, final: true, ended_by: 'flush', text: WORDS });
    // With no utterance open, a flush is answered by an empty final of its own seq.
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 2, final: true, ended_by: 'flush', text: '' });
    await c.close();
  });
});

describe('server-side turns when a backend dies', () => {
  it('moves a session whose backend is killed mid-utterance to the other backend: every utterance answered once, none skipped', async () => {
    // Two members, the same service behind each: the CPU one through a way that goes down.
    const way = await switchableWay(service.url);
    const proxy = await startTestProxy({ cpu: way.url, gpu: service.url });
    try {
      const c = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server`);
      c.ws.send(TURNS);
      expect(await c.next()).toMatchObject({ type: 'config', turns: 'server' });
      // The VTuber speaks all along: the backend that takes over is told so (each utterance interrupts it).
      c.ws.send(JSON.stringify({ type: 'assistant_speech', state: 'start', text: 'A long story about the weekend.' }));
      expect(await c.next()).toMatchObject({ type: 'assistant', state: 'start', at_ms: 0 });
      expect(await c.next()).toMatchObject({ type: 'config', assistant_speaking: true });
      const feed = feeder(recording.pcm, (chunk) => c.ws.send(chunk), 64);
      // Mid-turn: a second into the second sentence, its speech_start sent (and the first answered).
      feed.to(second.startMs + 1000);
      const messages = await collect(c, (seen) => answered(seen, 1) && started(seen, 2));
      await way.down();
      feed.rest();
      await collect(c, (seen) => finals(seen) >= recording.clips.length, messages, 40_000);
      const answers = expectUtterances(messages, recording);
      expect(answers.map((f) => f.backend)).toEqual(['cpu', 'gpu', 'gpu']);
      // The second utterance's start reached the client before the kill, from the first backend, and only then.
      const starts = messages.filter((m) => m.type === 'speech_start').map((m) => m.seq);
      expect(starts).toEqual([1, 2, 3]);
      // Once each, the one after the failover too; the VTuber's start is not said again.
      expect(messages.filter((m) => m.type === 'interruption').map((m) => m.seq)).toEqual([1, 2, 3]);
      expect(messages.filter((m) => m.type === 'assistant')).toEqual([]);
      await c.close();
    } finally {
      await proxy.close();
      await way.close();
    }
  });

  it('answers the open utterance with engine_unavailable once when no backend is left, and ends its turn for the speaker and listeners', async () => {
    const way = await switchableWay(service.url);
    const proxy = await startTestProxy({ cpu: way.url }, { retry: FAST_RETRY, holdMs: SHORT_HOLD_MS });
    try {
      const listener = await TestClient.connect(`${proxy.ws}/ws/events?session=no-backend`);
      expect(await listener.next()).toMatchObject({ type: 'session', live: false });
      const c = await TestClient.connect(`${proxy.ws}/ws/transcribe?turns=server&turn_events=1&session=no-backend`);
      feeder(recording.pcm, (chunk) => c.ws.send(chunk)).to(first.startMs + 1000);
      expect(await c.next()).toMatchObject({ type: 'speech_start', seq: 1 });
      expect(await c.next()).toMatchObject({ type: 'turn', event: 'start', seq: 1 });
      await way.down();
      c.flush(); // ends the open utterance: still one answer for seq 1
      expect(await c.next(20_000)).toMatchObject({ type: 'error', code: 'engine_unavailable', seq: 1 });
      // The turn that started is ended, with the error: nobody waits on it for ever.
      const end = { type: 'turn', event: 'end', seq: 1, text: '', error: 'engine_unavailable' };
      expect(await c.next()).toMatchObject(end);
      const heard: Message[] = [];
      await collect(listener, (seen) => seen.some((m) => m.type === 'turn' && (m as { event?: string }).event === 'end'), heard);
      expect(heard.at(-1)).toMatchObject({ ...end, session: 'no-backend' });
      expect(heard.filter((m) => m.type === 'turn').map((m) => (m as { event?: string }).event)).toEqual(['start', 'end']);
      await listener.close();
      // Nothing else came with it (no answer of the flush's own, no second error): the next message is
      // the proxy's own answer to a probe sent now, a frame of half a sample.
      c.ws.send(Buffer.alloc(3));
      const probe = await c.next<Message>();
      expect(probe).toMatchObject({ type: 'error', code: 'bad_audio' });
      expect(probe.seq).toBeUndefined();
      expect(c.ws.readyState).toBe(c.ws.OPEN);
      await c.close();
    } finally {
      await proxy.close();
      await way.close();
    }
  });
});

describe('server-side turns from a client whose service restarts on the same port', () => {
  it('replays from the last settled point and answers every utterance once, in order, on the client timeline', async () => {
    const way = await switchableWay(service.url);
    const messages: Message[] = [];
    const events: ConnectionEvent[] = [];
    const transcriber = new ResilientTranscriber({
      turns: 'server',
      next: () => ({ url: `ws://127.0.0.1:${way.port}/ws/transcribe?turns=server` }),
      maxReplayBytes: 16 * 1024 * 1024,
      retryDelayMs: 100,
      maxDelayMs: 500,
      onReply: (m) => messages.push(m as Message),
      onMessage: (m) => messages.push(m as Message),
      onConnectionChange: (e) => events.push(e),
    });
    try {
      transcriber.control(TURNS);
      const feed = feeder(recording.pcm, (chunk) => transcriber.sendAudio(chunk));
      // Killed 0.8 s into the second sentence: the first answered, the second begun.
      feed.to(second.startMs + 800);
      await until(() => answered(messages, 1) && started(messages, 2), 10_000);
      await way.down();
      await until(() => events.some((e) => e.type === 'lost'));
      feed.rest();
      // Back on its port only once the client found it gone (a reconnection refused).
      await until(() => events.some((e) => e.type === 'failed'));
      await way.up();
      await until(() => finals(messages) >= recording.clips.length, 40_000);
      await transcriber.idle();
      const heard = messages.filter((m) => m.type !== 'config');
      expectUtterances(heard, recording);
      expect(transcriber.waiting).toBe(0);
      // A flush with nothing open is answered under the next seq.
      transcriber.flush();
      await transcriber.idle();
      expect(messages.at(-1)).toMatchObject({ type: 'transcript', seq: recording.clips.length + 1, ended_by: 'flush', text: '' });
    } finally {
      transcriber.close();
      await way.close();
    }
  });
});

describe('server-side turns when the only backend behind the proxy is down for longer than its retries', () => {
  // One proxy in front of the service, whose log the tests read: what the proxy did when it ran
  // out of attempts is only visible there, and the scenarios below must reach that exact point.
  let way: Awaited<ReturnType<typeof switchableWay>>;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  const logs: { msg: string; dropped_ms?: number }[] = [];
  /** Audio (ms) held by sessions that ran out of attempts with no utterance open, one entry per time. */
  const holds = () => logs.map((l) => /holding (\d+) ms of audio/.exec(l.msg)).filter((m) => m !== null).map((m) => Number(m[1]));
  /** The proxy noticed that its backend connection dropped. */
  const lostSeen = () => logs.some((l) => /transcription backend lost/.test(l.msg));
  beforeAll(async () => {
    way = await switchableWay(service.url);
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) });
    proxy = await startTestProxy({ cpu: way.url }, { retry: FAST_RETRY, holdMs: SHORT_HOLD_MS }, { logger });
  });
  beforeEach(async () => {
    await way.up();
    logs.length = 0;
  });
  afterAll(async () => {
    await proxy?.close();
    await way?.close();
  });

  /** A client like the microphone client: a ResilientTranscriber to the proxy, in server mode. */
  function clientThrough(messages: Message[], events: ConnectionEvent[], retryCodes?: string[]): ResilientTranscriber {
    return new ResilientTranscriber({
      turns: 'server',
      next: () => ({ url: `${proxy.ws}/ws/transcribe?turns=server` }),
      maxReplayBytes: 16 * 1024 * 1024,
      retryCodes,
      retryDelayMs: 100,
      maxDelayMs: 500,
      onReply: (m) => messages.push(m as Message),
      onMessage: (m) => messages.push(m as Message),
      onConnectionChange: (e) => events.push(e),
    });
  }

  /**
   * Streams the recording; 1 s into the second utterance (open at the proxy and at the client)
   * takes the backend down and sends the rest once the proxy noticed, and brings the backend back
   * on its port only once the proxy has run out of attempts and holds at least 1 s of audio.
   */
  async function streamKillingSecond(transcriber: ResilientTranscriber, messages: Message[]): Promise<void> {
    const feed = feeder(recording.pcm, (chunk) => transcriber.sendAudio(chunk));
    feed.to(second.startMs + 1000);
    await until(() => answered(messages, 1) && started(messages, 2), 10_000);
    await way.down();
    await until(lostSeen);
    feed.rest();
    await until(() => holds().some((ms) => ms >= 1000), 20_000);
    await way.up();
  }

  it('loses nothing when the proxy runs out of attempts with no utterance open while holding audio, once a backend returns', async () => {
    const messages: Message[] = [];
    const events: ConnectionEvent[] = [];
    // As the microphone client: engine_unavailable means "send it all again on a fresh connection".
    const transcriber = clientThrough(messages, events, ['engine_unavailable']);
    try {
      transcriber.control(TURNS);
      // The proxy answers seq 2 with engine_unavailable; the client replays everything since its
      // settled point on a fresh session, whose backend is still down: that session runs out of
      // attempts with no utterance open (no backend reported one), holding the replayed audio.
      await streamKillingSecond(transcriber, messages);
      await until(() => finals(messages) >= recording.clips.length, 40_000, trailOf(messages, events, holds));
      await transcriber.idle();
      // Every utterance once, in order, with the backend's words, on the client's timeline: the
      // held audio reached the backend that came back.
      const answers = expectUtterances(messages.filter((m) => m.type !== 'config'), recording);
      expect(answers.every((f) => f.type === 'transcript' && f.backend === 'cpu')).toBe(true);
      expect(events.some((e) => e.type === 'lost' && /could not transcribe now/.test(e.detail ?? ''))).toBe(true);
      expect(transcriber.waiting).toBe(0);
    } finally {
      transcriber.close();
    }
  });

  it('holds what the client streams between utterances while no backend is reachable, and hands it to the backend that returns', async () => {
    const messages: Message[] = [];
    const events: ConnectionEvent[] = [];
    const transcriber = clientThrough(messages, events, ['engine_unavailable']);
    try {
      transcriber.control(TURNS);
      const feed = feeder(recording.pcm, (chunk) => transcriber.sendAudio(chunk));
      // In the pause: the first utterance answered, the second not begun.
      feed.to(first.endMs + 1200);
      await until(() => answered(messages, 1), 10_000);
      expect(messages.some((m) => m.seq === 2)).toBe(false);
      await way.down();
      await until(lostSeen);
      // Back only after the proxy ran out of attempts and more than 2 s of the second utterance
      // went by unheard: the client, whose link to the proxy never broke, has let that audio go
      // as idle; only the proxy still has it.
      feed.to(second.startMs + 2500);
      await until(() => holds().length > 0, 20_000, trailOf(messages, events, holds));
      await way.up();
      feed.rest();
      await until(() => finals(messages) >= recording.clips.length, 40_000, trailOf(messages, events, holds));
      await transcriber.idle();
      expectUtterances(messages.filter((m) => m.type !== 'config'), recording);
      // The second utterance was heard from its beginning (its speech starts ~0.1 s into the clip).
      const start = messages.find((m) => m.type === 'speech_start' && m.seq === 2)!;
      expect(start.start_ms!).toBeLessThan(second.startMs + 400);
      // Nothing reached the client but the transcripts: no error, no dropped connection.
      expect(events.filter((e) => e.type !== 'connected')).toEqual([]);
      expect(messages.some((m) => m.type === 'error')).toBe(false);
    } finally {
      transcriber.close();
    }
  });

  it('answers the open utterance once, then closes with 1013 when audio past it was dropped; a client reconnecting replays it from its settled point', async () => {
    const messages: Message[] = [];
    const events: ConnectionEvent[] = [];
    // No retry codes: engine_unavailable is seq 2's answer here, as for a plain client.
    const transcriber = clientThrough(messages, events);
    try {
      transcriber.control(TURNS);
      await streamKillingSecond(transcriber, messages);
      await until(() => finals(messages) >= recording.clips.length + 1, 40_000, trailOf(messages, events, holds));
      await transcriber.idle();
      // The proxy gave up on seq 2 while its end was unknown: everything after its start was dropped.
      expect(logs.some((l) => (l.dropped_ms ?? 0) > 0)).toBe(true);
      const lost = events.filter((e) => e.type === 'lost').map((e) => e.detail);
      expect(lost).toContain('connection closed (1013 no transcription service is reachable; reconnect)');
      // One answer per seq, in order: seq 2's error, then its words under seq 3 (the client heard
      // the error as seq 2's answer and sent the audio again from before it), then seq 4.
      const answers = messages.filter(isFinal);
      expect(answers.map((f) => f.seq)).toEqual([1, 2, 3, 4]);
      expect(answers[1]).toMatchObject({ type: 'error', code: 'engine_unavailable', seq: 2 });
      for (const [i, clip] of [[0, recording.clips[0]!], [2, recording.clips[1]!], [3, recording.clips[2]!]] as const) {
        expect(answers[i]).toMatchObject({ type: 'transcript', final: true, text: WORDS, ended_by: 'silence' });
        // On the client's own timeline, inside the clip that utterance is.
        expect(answers[i]!.start_ms!).toBeGreaterThanOrEqual(clip.startMs - 160);
        expect(answers[i]!.end_ms!).toBeLessThanOrEqual(clip.endMs + 160);
        expect(answers[i]!.end_ms!).toBeGreaterThan(clip.startMs);
      }
      const starts = messages.filter((m) => m.type === 'speech_start').map((m) => m.seq);
      expect(starts).toEqual([1, 2, 3, 4]);
      expect(transcriber.waiting).toBe(0);
    } finally {
      transcriber.close();
    }
  });
});
