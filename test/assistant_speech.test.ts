import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, msOfSamples, resample, SAMPLE_RATE, type RunningService } from '@vtuber-stt/core';
import { echoScene } from './helpers/echo_scene.js';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestService } from './helpers/service.js';
import { syntheticModel, syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';

type Message = Record<string, unknown> & { type: string; seq?: number; at_ms?: number; start_ms?: number; text?: string; final?: boolean; event?: string };

/** What the streamer's "speech" is transcribed as here: the engine's text is synthetic, Silero is real. */
const SAID = ' Hello| there|.';
const MODEL = () => syntheticModel(fixtureModel('tiny'), SAID, { layers: 1 });
const WORDS = syntheticText(fixtureModel('tiny'), SAID);
/** A VTuber line the streamer's "Hello there." repeats (as its echo would), and one it does not. */
const ECHOED_LINE = 'Hello there, and welcome back to the stream!';
const OTHER_LINE = "Let's play a game tonight.";

const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
const silence = (ms: number) => Buffer.alloc(Math.round((ms / 1000) * SAMPLE_RATE) * 2);
const isFinal = (m: Message) => m.type === 'transcript' && m.final !== false;
const say = (c: TestClient, state: 'start' | 'end', text?: string) => c.ws.send(JSON.stringify({ type: 'assistant_speech', state, ...(text === undefined ? {} : { text }) }));

/** Reads until `want`, keeping everything read in `into`. */
async function until(c: TestClient, into: Message[], want: (m: Message) => boolean): Promise<Message> {
  for (;;) {
    const m = await c.next<Message>();
    into.push(m);
    if (want(m)) return m;
  }
}

/** The `assistant` event, then the config ack: what every assistant_speech is answered with. */
async function said(c: TestClient, state: 'start' | 'end', text?: string): Promise<Message> {
  say(c, state, text);
  const event = await c.next<Message>();
  expect(event).toMatchObject({ type: 'assistant', state, ...(state === 'start' ? { text } : {}) });
  expect(await c.next<Message>()).toMatchObject({ type: 'config', assistant_speaking: state === 'start' });
  return event;
}

/**
 * The VTuber's own voice (issue 20, item 4), on the service: its speech changes what the
 * microphone's audio becomes, by the connection's policy. Audio goes as fast as the protocol
 * takes it: every decision is on the connection's audio clock, never the wall clock.
 */
describe("the VTuber's own voice (assistant_speech, assistant_audio)", () => {
  let service: RunningService & { ws: string };

  beforeAll(async () => {
    service = await startTestService({ model: MODEL() });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('barge_in without reference audio: a final repeating the VTuber\'s line is dropped as echo, and interrupts nothing', async () => {
    const c = await TestClient.connect(`${service.ws}?turns=server&turn_events=1`);
    expect((await said(c, 'start', ECHOED_LINE)).at_ms).toBe(0);
    c.sendAudio(Buffer.concat([silence(300), speech, silence(1500)]));
    const seen: Message[] = [];
    const final = await until(c, seen, isFinal);
    expect(final).toMatchObject({ seq: 1, text: '', segments: [], dropped: 'echo' });
    // The speech was the VTuber's own voice: it does not cut the VTuber off.
    expect(seen.filter((m) => m.type === 'interruption')).toEqual([]);
    // A brain is never handed the echo's words to act on.
    expect(await until(c, seen, (m) => m.type === 'turn' && m.event === 'end')).toMatchObject({ seq: 1, text: '', dropped: 'echo' });
    expect(seen.filter((m) => m.type === 'turn' && m.event === 'eager_end')).toEqual([]);
    await c.close();
  });

  it('other words are the streamer\'s: kept, and they interrupt the VTuber; once it has stopped, speech interrupts nothing', async () => {
    const c = await TestClient.connect(`${service.ws}?turns=server`);
    await said(c, 'start', OTHER_LINE);
    const seen: Message[] = [];
    c.sendAudio(Buffer.concat([silence(300), speech, silence(1500)]));
    expect(await until(c, seen, isFinal)).toMatchObject({ seq: 1, text: WORDS });
    // No reference audio: the interruption waits for words that are not the line's, and comes before the final.
    const start = seen.find((m) => m.type === 'speech_start')!;
    const interruption = seen.find((m) => m.type === 'interruption')!;
    expect(interruption).toMatchObject({ seq: 1, start_ms: start.start_ms });
    expect(interruption.at_ms!).toBeGreaterThan(start.start_ms!);
    expect(seen.indexOf(interruption)).toBeLessThan(seen.findIndex(isFinal));
    await said(c, 'end');
    c.sendAudio(Buffer.concat([speech, silence(1500)]));
    expect(await until(c, seen, isFinal)).toMatchObject({ seq: 2, text: WORDS });
    expect(seen.filter((m) => m.type === 'interruption').map((m) => m.seq)).toEqual([1]);
    await c.close();
  });

  it('ignore (half duplex): nothing heard while the VTuber speaks nor in the tail after; heard again after it', async () => {
    const c = await TestClient.connect(`${service.ws}?turns=server`);
    const tailMs = 3000;
    c.ws.send(JSON.stringify({ type: 'config', assistant_policy: 'ignore', assistant_tail_ms: tailMs }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', assistant_policy: 'ignore', assistant_tail_ms: tailMs, assistant_speaking: false });
    await said(c, 'start', ECHOED_LINE);
    c.sendAudio(Buffer.concat([silence(300), speech, silence(200)]));
    const end = await said(c, 'end');
    // The clip (2.9 s) lies wholly inside the tail; the next one after it.
    c.sendAudio(Buffer.concat([speech, silence(300), speech, silence(1500)]));
    const seen: Message[] = [];
    const final = await until(c, seen, isFinal);
    expect(final).toMatchObject({ seq: 1, text: WORDS });
    const starts = seen.filter((m) => m.type === 'speech_start');
    expect(starts).toHaveLength(1);
    expect(starts[0]!.start_ms!).toBeGreaterThanOrEqual(end.at_ms! + tailMs);
    expect(seen.some((m) => m.type === 'interruption')).toBe(false);
    await c.close();
  });

  it('off: the VTuber changes nothing; bad assistant messages (and reference audio far ahead of the microphone) get a clear error and the connection serves on', async () => {
    const c = await TestClient.connect(`${service.ws}?turns=server`);
    // 1 MB of text: refused, named.
    say(c, 'start', 'x'.repeat(1_000_000));
    const refused = await c.next<Message>();
    expect(refused).toMatchObject({ type: 'error', code: 'bad_message' });
    expect(refused.error).toContain('4000 characters');
    for (const [bad, why] of [
      [{ type: 'assistant_audio', audio: 'AA==', sample_rate: 24000 }, 'whole 16-bit samples'],
      [{ type: 'assistant_audio', audio: 'AAAA', sample_rate: 5 }, 'sample_rate'],
      [{ type: 'assistant_audio', audio: '%%%%', sample_rate: 24000 }, 'base64'],
      [{ type: 'assistant_speech', state: 'loud' }, 'state'],
      [{ type: 'config', assistant_policy: 'mute' }, 'assistant_policy'],
    ] as const) {
      c.ws.send(JSON.stringify(bad));
      const error = await c.next<Message>();
      expect(error, why).toMatchObject({ type: 'error', code: 'bad_message' });
      expect(error.error, why).toContain(why);
    }
    // Reference audio sent far faster than it plays (two 12 s chunks at once, 20 s may wait): the
    // second is refused, named; the connection (and the process) go on.
    const chunk = Buffer.alloc(196_608).toString('base64');
    for (let i = 0; i < 2; i++) c.ws.send(JSON.stringify({ type: 'assistant_audio', audio: chunk, sample_rate: 8000 }));
    const ahead = await c.next<Message>();
    expect(ahead).toMatchObject({ type: 'error', code: 'bad_message' });
    expect(ahead.error).toMatch(/ahead of the microphone/);
    c.ws.send(JSON.stringify({ type: 'config', assistant_policy: 'off' }));
    expect(await c.next<Message>()).toMatchObject({ type: 'config', assistant_policy: 'off' });
    await said(c, 'start', ECHOED_LINE);
    const seen: Message[] = [];
    c.sendAudio(Buffer.concat([silence(300), speech, silence(1500)]));
    expect(await until(c, seen, isFinal)).toMatchObject({ seq: 1, text: WORDS });
    expect(seen.some((m) => m.type === 'interruption')).toBe(false);
    await c.close();
  });

  it('barge_in with reference audio: the echo is cancelled (no speech start, no text), the streamer barging in is heard, and interrupts at once', async () => {
    // espeak-ng's line through a room at -12 dB; the streamer starts 1.2 s before its echo dies away.
    const scene = echoScene({ streamer: 'speechbrain/spk1_snt1.wav', overlapMs: 1200, tailMs: 1500 });
    const playedTo = scene.referenceStart + scene.reference.length;
    expect(scene.streamerStartMs!).toBeLessThan(msOfSamples(playedTo));
    // The TTS plays at 24 kHz: the reference is sent at its own rate.
    const reference = encodeS16le(resample(scene.reference, SAMPLE_RATE, 24_000));
    const at24k = (sample: number) => 2 * Math.floor(((sample - scene.referenceStart) * 24_000) / SAMPLE_RATE);
    const mic = encodeS16le(scene.mic);

    const c = await TestClient.connect(`${service.ws}?turns=server`);
    const CHUNK = 320; // 20 ms, as a client playing and listening would send it
    let playing = false;
    for (let pos = 0; pos < scene.mic.length; pos += CHUNK) {
      const end = Math.min(scene.mic.length, pos + CHUNK);
      if (!playing && pos >= scene.referenceStart && pos < playedTo) {
        playing = true;
        say(c, 'start', scene.text);
      }
      if (playing && pos >= playedTo) {
        playing = false;
        say(c, 'end');
      }
      // What the speakers play during this chunk, sent just before the microphone's chunk.
      if (playing) {
        const piece = reference.subarray(Math.max(0, at24k(pos)), at24k(Math.min(end, playedTo)));
        if (piece.length > 0) c.ws.send(JSON.stringify({ type: 'assistant_audio', audio: piece.toString('base64'), sample_rate: 24_000 }));
      }
      c.ws.send(mic.subarray(2 * pos, 2 * end));
    }
    const seen: Message[] = [];
    const final = await until(c, seen, isFinal);
    const starts = seen.filter((m) => m.type === 'speech_start');
    expect(starts, JSON.stringify(seen.filter((m) => m.type !== 'config'))).toHaveLength(1);
    // The one start is the streamer's, not the echo's.
    expect(starts[0]!.start_ms!).toBeGreaterThan(scene.vtuberSpanMs[0] + 500);
    expect(Math.abs(starts[0]!.start_ms! - scene.streamerStartMs!)).toBeLessThanOrEqual(300);
    expect(final).toMatchObject({ seq: 1, text: WORDS });
    expect(final.dropped).toBeUndefined();
    const interruption = seen.find((m) => m.type === 'interruption')!;
    expect(interruption).toMatchObject({ seq: 1, start_ms: starts[0]!.start_ms });
    expect(interruption.at_ms! - starts[0]!.start_ms!).toBeLessThanOrEqual(100);
    expect(seen.some((m) => m.type === 'error')).toBe(false);
    await c.close();
  });
});
