import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, type TranscriptMessage } from '@vtuber-stt/core';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { feeder, roomNoise } from './helpers/recording.js';
import { startTestService } from './helpers/service.js';
import { bilingualModel, bilingualText, withKoreanMarker } from './helpers/bilingual_model.js';
import { syntheticModel, syntheticText } from './helpers/synthetic_model.js';
import { untilAsync } from './helpers/wait.js';
import { TestClient } from './helpers/ws_client.js';

type Message = Omit<TranscriptMessage, 'type'> & { type: string; start_ms: number; end_ms: number; decided_ms: number; code?: string; error?: string };

/** The tiny architecture: these tests are about turns, not the model, and every decode costs them real time. */
const MODEL = () => syntheticModel(fixtureModel('tiny'), 20, { layers: 1 });
const WORDS = syntheticText(fixtureModel('tiny'), 20);
const RATE = 16000;
const en1 = loadClip('speechbrain/spk1_snt1.wav');
const en2 = loadClip('speechbrain/spk1_snt2.wav');
const ko = loadClip('picovoice-leopard/test_ko.wav');

const room = roomNoise;

/** Clips joined by gaps; returns the audio and where each clip lies (ms). */
function conversation(parts: (Float32Array | number)[]): { pcm: Buffer; clips: { from: number; to: number }[] } {
  const pieces: Float32Array[] = [];
  const clips: { from: number; to: number }[] = [];
  let at = 0;
  for (const p of parts) {
    const piece = typeof p === 'number' ? room(p, at + 7) : p;
    if (typeof p !== 'number') clips.push({ from: (at / RATE) * 1000, to: ((at + piece.length) / RATE) * 1000 });
    pieces.push(piece);
    at += piece.length;
  }
  const all = new Float32Array(at);
  let o = 0;
  for (const p of pieces) {
    all.set(p, o);
    o += p.length;
  }
  return { pcm: encodeS16le(all), clips };
}

/** Collects messages until `done` says the conversation is over. */
async function collect(c: TestClient, done: (all: Message[]) => boolean, ms = 60_000): Promise<Message[]> {
  const all: Message[] = [];
  while (!done(all)) all.push(await c.next<Message>(ms));
  return all;
}

/**
 * Sends `pcm` (32 ms chunks) at once up to `pauseMs` into the pause after `clip`, waits for the
 * early text taken in that pause (`final: false`, its decode reaching the clip's end), then sends
 * the rest at once; returns what arrived meanwhile. The turns run on the audio clock, so this is
 * live pacing with a decode quicker than the pause, without waiting in real time: the service
 * hears nothing after `pauseMs` before the early text is in. The speculation starts 64 ms into
 * the silence, which Silero hears about 120 ms after these clips end.
 */
async function streamToEarly(c: TestClient, pcm: Buffer, clip: { to: number }, pauseMs: number): Promise<Message[]> {
  const feed = feeder(pcm, (chunk) => c.ws.send(chunk));
  feed.to(clip.to + pauseMs);
  const seen = await collect(c, (all) => all.some((m) => m.type === 'transcript' && m.final === false && m.decoded_ms![1] >= clip.to));
  feed.rest();
  return seen;
}
const finals = (all: Message[]) => all.filter((m) => m.type === 'transcript' && m.final !== false);

describe('server-side turns on /ws/transcribe', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    service = await startTestService({ model: MODEL() });
  });
  afterAll(async () => service?.close());

  it('gives one final per utterance of a multi-utterance recording, with events in order', async () => {
    const { pcm, clips } = conversation([0.5, en1, 1.5, ko, 1.5, en2, 1.5]);
    const c = await TestClient.connect(`${service.ws}?turns=server`);
    c.sendAudio(pcm);
    const all = await collect(c, (m) => finals(m).length === 3);
    expect(finals(all).map((m) => m.seq)).toEqual([1, 2, 3]);
    for (const [i, clip] of clips.entries()) {
      const seq = i + 1;
      const mine = all.filter((m) => m.seq === seq);
      expect(mine.map((m) => m.type)).toEqual(['speech_start', 'speech_end', 'transcript']);
      const [start, end, final] = mine as [Message, Message, Message];
      // Offsets on the connection's timeline, inside the clip (its own leading silence allowed).
      expect(start.start_ms).toBeGreaterThanOrEqual(clip.from - 50);
      expect(start.start_ms).toBeLessThan(clip.from + 800);
      expect(end.end_ms).toBeGreaterThan(start.start_ms);
      // Silero's probability lingers a little past the last syllable.
      expect(end.end_ms).toBeLessThanOrEqual(clip.to + 200);
      expect(end.decided_ms).toBeGreaterThanOrEqual(end.end_ms + 400);
      expect(final).toMatchObject({ final: true, text: WORDS, start_ms: start.start_ms, end_ms: end.end_ms, ended_by: 'silence' });
      expect(final.segments[0]!.start_ms).toBeGreaterThanOrEqual(clip.from - 400);
      expect(final.segments[0]!.end_ms).toBeLessThanOrEqual(end.decided_ms);
    }
    // Nothing more: a flush with no utterance open answers one empty final with the next seq.
    c.flush();
    expect(await c.next<Message>()).toMatchObject({ type: 'transcript', seq: 4, final: true, text: '', ended_by: 'flush' });
    await c.close();
  });

  it('keeps a pause shorter than the end-of-turn silence inside one utterance', async () => {
    const { pcm, clips } = conversation([0.5, en1, 0.3, en2, 1.5]);
    const c = await TestClient.connect(`${service.ws}?turns=server`);
    c.sendAudio(pcm);
    const all = await collect(c, (m) => finals(m).length === 1);
    c.flush(); // nothing else was heard: the flush gets its own, empty final
    const after = await c.next<Message>();
    expect(after).toMatchObject({ seq: 2, text: '', ended_by: 'flush' });
    const [final] = finals(all);
    expect(final).toMatchObject({ seq: 1, text: WORDS });
    expect(final!.start_ms).toBeLessThan(clips[0]!.to);
    expect(final!.end_ms).toBeGreaterThan(clips[1]!.from);
    expect(all.filter((m) => m.type === 'speech_start')).toHaveLength(1);
    await c.close();
  });

  it('throws a speculative result away when speech resumes, and answers the whole utterance once', async () => {
    // A pause long enough to speculate (160 ms plus the trailing pad), too short to end the turn.
    const { pcm, clips } = conversation([0.5, en1, 0.5, en2, 1.2]);
    const wasted = async () => Number(/stt_speculative_wasted_seconds_total\{[^}]*\} (\S+)/.exec(await fetch(`${service.url}/metrics`).then((r) => r.text()))?.[1] ?? 0);
    const wastedBefore = await wasted();
    const c = await TestClient.connect(`${service.ws}?turns=server&early=1`);
    // The whole pause is heard, and its early text is out, before the second clip resumes the speech.
    const all = [...(await streamToEarly(c, pcm, clips[0]!, clips[1]!.from - clips[0]!.to)), ...(await collect(c, (m) => finals(m).length === 1))];
    const early = all.filter((m) => m.type === 'transcript' && m.final === false);
    expect(early.length).toBeGreaterThanOrEqual(1);
    expect(early.every((m) => m.seq === 1)).toBe(true);
    const final = finals(all)[0]!;
    expect(final.seq).toBe(1);
    expect(final.end_ms).toBeGreaterThan(clips[1]!.from);
    // The first speculation covered only the first clip; the final's input had to be decoded anew
    // (or a later speculation, made after the second clip, was the hit).
    const firstEarly = early[0]!;
    expect(firstEarly.segments.at(-1)!.end_ms).toBeLessThan(clips[1]!.from);
    expect(final.segments.at(-1)!.end_ms).toBeGreaterThan(clips[1]!.from);
    // The speculation whose early text went out was thrown away: its engine time counts as wasted.
    expect(await wasted()).toBeGreaterThan(wastedBefore);
    await c.close();
  });

  it('uses the speculative decode as the final only when the engine input is the same, so the text is identical', async () => {
    const { pcm, clips } = conversation([0.4, en1, 1.4]);
    // Server mode, and the founding protocol with a flush after the pause.
    const fast = await TestClient.connect(`${service.ws}?turns=server&early=1`);
    const slow = await TestClient.connect(`${service.ws}?turns=server`);
    slow.ws.send(JSON.stringify({ type: 'config', speculate_ms: 5000 }));
    expect(await slow.next()).toMatchObject({ type: 'config', speculate_ms: 5000 });
    slow.sendAudio(pcm, 1024);
    const ahead = await streamToEarly(fast, pcm, clips[0]!, 300);
    const [hit] = finals([...ahead, ...(await collect(fast, (m) => finals(m).length === 1))]);
    const [plain] = finals(await collect(slow, (m) => finals(m).length === 1));
    expect(hit!.speculative).toBe('hit');
    expect(plain!.speculative).toBe('none');
    const same = (m: Message) => ({ text: m.text, language: m.language, audio_ms: m.audio_ms, speech_ms: m.speech_ms, segments: m.segments, start_ms: m.start_ms, end_ms: m.end_ms });
    expect(same(hit!)).toEqual(same(plain!));

    const flushHit = await TestClient.connect(`${service.ws}?early=1`);
    const flushPlain = await TestClient.connect(service.ws);
    flushPlain.ws.send(JSON.stringify({ type: 'config', speculate_ms: 5000 }));
    await flushPlain.next();
    // As a client with its own hang-over does: the pause is heard, and its early text is out,
    // before the flush comes.
    flushPlain.sendAudio(pcm, 1024);
    const beforeFlush = await streamToEarly(flushHit, pcm, clips[0]!, Infinity);
    for (const c of [flushHit, flushPlain]) c.flush();
    // A pause inside the sentence may have been speculated on too: the last early text is the one.
    const heard = [...beforeFlush, ...(await collect(flushHit, (m) => finals(m).length === 1))];
    const early = heard.filter((m) => m.final === false).at(-1)!;
    const fromHit = finals(heard)[0]!;
    const fromPlain = await flushPlain.next<Message>();
    // Early text first, with the seq of the flush it will answer; then exactly one final.
    expect(early).toMatchObject({ type: 'transcript', final: false, seq: 1, text: WORDS });
    expect(fromHit).toMatchObject({ type: 'transcript', final: true, seq: 1, speculative: 'hit' });
    expect(fromPlain).toMatchObject({ type: 'transcript', final: true, seq: 1, speculative: 'none' });
    const flushed = (m: Message) => ({ text: m.text, audio_ms: m.audio_ms, speech_ms: m.speech_ms, segments: m.segments });
    expect(flushed(fromHit)).toEqual(flushed(fromPlain));
    // The early text was decoded from the same speech; it only heard less of the silence after it.
    expect({ ...flushed(early), audio_ms: 0 }).toEqual({ ...flushed(fromPlain), audio_ms: 0 });
    expect(early.audio_ms).toBeLessThan(fromPlain.audio_ms);
    for (const c of [fast, slow, flushHit, flushPlain]) await c.close();
  });

  it("never lets speculative work delay another connection's final", async () => {
    // 22 s: the tiny model's final of it holds the engine for a while (about a second here).
    const jfk = encodeS16le(loadClip('whisper.cpp/jfk.wav'));
    const long = Buffer.concat([jfk, jfk]);
    // A fixed language: no early language checks in the queue, only the three decodes under test.
    const connect = async (query: string, config: object) => {
      const c = await TestClient.connect(`${service.ws}${query}`);
      c.ws.send(JSON.stringify({ type: 'config', language: 'en', ...config }));
      await c.next();
      return c;
    };
    const busy = await connect('', { speculate_ms: 5000 });
    const speculating = await connect('?early=1', {});
    const waiting = await connect('', { speculate_ms: 5000 });
    // The engine is taken by a long final; meanwhile one connection pauses (a speculative decode
    // queues) and then another flushes (a final queues).
    const queue = service.state.transcriber!.queue;
    const until = async (ok: () => boolean) => {
      while (!ok()) await new Promise((r) => setTimeout(r, 5));
    };
    await until(() => queue.depth === 0); // earlier tests' work is done
    busy.sendAudio(long);
    busy.flush();
    await until(() => queue.busy);
    speculating.sendAudio(conversation([0.3, en1, 1.0]).pcm);
    await until(() => queue.depth >= 2);
    waiting.sendAudio(encodeS16le(en2));
    waiting.flush();
    const order: string[] = [];
    await Promise.all([
      busy.next().then(() => order.push('busy')),
      speculating.next<Message>().then((m) => order.push(`speculative:${String(m.final)}`)),
      waiting.next().then(() => order.push('final')),
    ]);
    expect(order).toEqual(['busy', 'final', 'speculative:false']);
    for (const c of [busy, speculating, waiting]) await c.close();
  });

  it('ends a turn sooner when the speculative text ends a sentence', async () => {
    const sentence = await startTestService({ model: syntheticModel(fixtureModel('tiny'), ' Hello| there|.', { layers: 1 }) });
    try {
      const { pcm, clips } = conversation([0.4, en1, 1.6]);
      const waits: Record<string, number> = {};
      for (const [name, url] of [['sentence', sentence.ws], ['words', service.ws]] as const) {
        const c = await TestClient.connect(`${url}?turns=server&early=1`);
        // The speculative text is in 300 ms after the clip, well before either wait is over.
        const all = [...(await streamToEarly(c, pcm, clips[0]!, 300)), ...(await collect(c, (m) => finals(m).length === 1))];
        const end = all.find((m) => m.type === 'speech_end')!;
        waits[name] = end.decided_ms - end.end_ms;
        await c.close();
      }
      // 450 ms after "there." (sentence_end_ms), 700 ms after words that do not end a sentence.
      expect(waits.sentence).toBeGreaterThanOrEqual(450);
      expect(waits.sentence).toBeLessThan(650);
      expect(waits.words).toBeGreaterThanOrEqual(700);
    } finally {
      await sentence.close();
    }
  });

  it('lets <flush> end a turn at once and reset discard one, each seq answered once', async () => {
    const c = await TestClient.connect(`${service.ws}?turns=server`);
    c.sendAudio(encodeS16le(en1.subarray(0, RATE * 1.5)));
    c.flush();
    const all = await collect(c, (m) => finals(m).length === 1);
    expect(all.map((m) => m.type)).toEqual(['speech_start', 'speech_end', 'transcript']);
    expect(finals(all)[0]).toMatchObject({ seq: 1, text: WORDS, ended_by: 'flush' });
    c.sendAudio(encodeS16le(en2.subarray(0, RATE * 1.5)));
    // Reset once the second utterance is open.
    const opened = await collect(c, (m) => m.some((x) => x.type === 'speech_start'));
    c.ws.send(JSON.stringify({ type: 'reset' }));
    const rest = [...opened, ...(await collect(c, (m) => m.some((x) => x.type === 'reset') && finals(m).length === 1))];
    expect(rest.find((m) => m.type === 'speech_start')).toMatchObject({ seq: 2 });
    expect(finals(rest)[0]).toMatchObject({ seq: 2, text: '', dropped: 'reset' });
    await c.close();
  });

  it('refuses what it cannot honour, and the connection keeps serving', async () => {
    const bad = new TestClient(`${service.ws}?turns=sometimes`);
    expect(await bad.closed).toMatchObject({ code: 1008 });
    const c = await TestClient.connect(service.ws);
    c.sendAudio(encodeS16le(en1.subarray(0, 3200)));
    c.ws.send(JSON.stringify({ type: 'config', turns: 'server' }));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message', error: expect.stringContaining('before any audio') });
    c.ws.send(JSON.stringify({ type: 'config', speculate_ms: 1 }));
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_message', error: expect.stringContaining('speculate_ms') });
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 1 });
    await c.close();
  });
});

describe('language in auto mode', () => {
  it("identifies a session's language once, keeps it while the text stays in its script, and gives each utterance its language when the speaker switches", async () => {
    // Audio with the marker tone is Korean to this model (identified so, Hangul text in any language).
    const service = await startTestService({ model: bilingualModel(fixtureModel('tiny')) }, { STT_LANGUAGE_MEMORY: 'on' });
    try {
      const said = bilingualText(fixtureModel('tiny'));
      const marked = withKoreanMarker(ko);
      const { pcm, clips } = conversation([0.4, marked, 1.5, marked, 1.5, en1, 1.5, marked, 1.5, en2, 1.5, en1, 1.5, en2, 1.5]);
      const c = await TestClient.connect(`${service.ws}?turns=server`);
      const metrics = () => fetch(`${service.url}/metrics`).then((r) => r.text());
      const count = (text: string, name: string) => [...text.matchAll(new RegExp(`${name}\\{([^}]*)\\} (\\d+)`, 'g'))].map((m) => ({ labels: m[1]!.replace(/,?service="[^"]*"/, ''), n: Number(m[2]) }));
      // As live: the first check runs while its speaker is still talking (2.5 s into the clip
      // holds the 800 ms of speech it waits for); each later utterance is heard once the one
      // before is answered, so each starts from what the session has learnt.
      const feed = feeder(pcm, (chunk) => c.ws.send(chunk));
      feed.to(clips[0]!.from + 2500);
      await untilAsync(async () => count(await metrics(), 'stt_language_identified_total').length > 0, 20_000, 20);
      const all: Message[] = [];
      for (const [i, clip] of clips.entries()) {
        feed.to(clip.to + 1500);
        all.push(...(await collect(c, (m) => finals(m).length === 1)));
        expect(finals(all)).toHaveLength(i + 1);
      }
      feed.rest();
      const [K, E] = [['ko', said.ko], ['en', said.en]];
      expect(finals(all).map((f) => [f.language, f.text])).toEqual([K, K, E, K, E, E, E]);
      // A decode in the remembered language that came out in another script never went out as early text.
      for (const t of all.filter((m) => m.type === 'transcript')) expect([t.language, t.text]).toEqual(t.text === said.ko ? ['ko', said.ko] : ['en', said.en]);
      const counted = await metrics();
      // The first utterance identified, the second kept Korean, the third (Latin text in Korean)
      // was decoded again in auto. After a switch it takes two identified utterances in a row in
      // one language to keep it: the fourth to sixth identify, the seventh keeps English.
      expect(count(counted, 'stt_language_identified_total').reduce((n, m) => n + m.n, 0)).toBe(4);
      expect(count(counted, 'stt_language_memory_total')).toEqual([{ labels: 'outcome="kept"', n: 2 }, { labels: 'outcome="switched"', n: 1 }]);
      await c.close();
    } finally {
      await service.close();
    }
  });

  it("skips a language check while finals wait, using the session's last language (memory off)", async () => {
    const service = await startTestService({ model: MODEL() }, { STT_LANGUAGE_MEMORY: 'off' });
    try {
      const c = await TestClient.connect(service.ws);
      const speech = (clip: Float32Array) => encodeS16le(clip);
      const shed = async () => Number(/stt_shed_total\{kind="language"[^}]*\} (\d+)/.exec(await fetch(`${service.url}/metrics`).then((r) => r.text()))?.[1] ?? 0);
      // Identified once (memory off: it is not kept, only remembered as the last language).
      c.sendAudio(speech(en1));
      c.flush();
      expect(finals(await collect(c, (m) => finals(m).length === 1))[0]!.language).toBe('en');
      // Finals in line (one running, others waiting) when the next utterances' checks fall due:
      // the connection's order puts each one's audio right behind the flushes before it.
      for (let i = 0; i < 3; i++) {
        c.sendAudio(speech(ko));
        c.flush();
      }
      c.sendAudio(speech(en2));
      c.flush();
      const rest = finals(await collect(c, (m) => finals(m).length === 4));
      expect(rest.map((f) => f.language)).toEqual(['en', 'en', 'en', 'en']);
      expect(await shed()).toBeGreaterThanOrEqual(1);
      await c.close();
    } finally {
      await service.close();
    }
  });

  it('keeps a fixed language as given, without identifying it', async () => {
    const service = await startTestService({ model: MODEL(), language: 'ko' });
    try {
      const c = await TestClient.connect(`${service.ws}?turns=server`);
      c.sendAudio(conversation([0.4, en1, 1.5]).pcm);
      const [final] = finals(await collect(c, (m) => finals(m).length === 1));
      expect(final!.language).toBe('ko');
      expect(await fetch(`${service.url}/metrics`).then((r) => r.text())).not.toMatch(/stt_language_identified_total\{/);
      await c.close();
    } finally {
      await service.close();
    }
  });
});
