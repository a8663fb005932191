import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le } from '@vtuber-stt/core';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { RealtimeClient, to24k, type RealtimeEvent } from './helpers/realtime_client.js';
import { buildRecording, streamPaced } from './helpers/recording.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';

const WORDS = syntheticText(fixtureModel('base'), 20);
const clip = (file: string) => to24k(encodeS16le(loadClip(file)));
const MANUAL = { type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: null } } } };
const MAX_FRAME = 64 * 1024;
const completedOf = (all: RealtimeEvent[]) => all.filter((e) => e.type === 'conversation.item.input_audio_transcription.completed');

describe('OpenAI Realtime transcription sessions at /v1/realtime through the proxy', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  let url: string;
  beforeAll(async () => {
    service = await startTestService();
    // Frames up to 64 KiB (2/3 s at 24 kHz): the appends below are smaller, the oversize one is not.
    proxy = await startTestProxy({ cpu: service.url }, { maxFrameBytes: MAX_FRAME });
    url = `${proxy.ws}/v1/realtime?intent=transcription`;
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('opens with session.created describing a 24 kHz server-VAD transcription session', async () => {
    const c = await RealtimeClient.connect(url);
    const created = await c.next();
    expect(created.type).toBe('session.created');
    expect(created.event_id).toMatch(/^event_/);
    expect(created.session).toMatchObject({
      type: 'transcription',
      audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'server_vad' } } },
    });
    await c.close();
  });

  it('refuses a session without intent=transcription, with the reason', async () => {
    const c = await RealtimeClient.connect(`${proxy.ws}/v1/realtime?model=gpt-realtime`);
    const refusal = await c.next();
    expect(refusal).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(refusal.error!.message).toContain('intent=transcription');
    expect((await c.closed).code).toBe(1008);
  });

  it('manual commits: two utterances, each committed then completed, items chained', async () => {
    const c = await RealtimeClient.connect(url);
    await c.next('session.created');
    c.send({ ...MANUAL, event_id: 'evt_1' });
    const updated = await c.next('session.updated');
    expect(updated.session!.audio.input.turn_detection).toBeNull();

    c.append(clip('speechbrain/spk1_snt1.wav'));
    c.send({ type: 'input_audio_buffer.commit' });
    const first = await c.next('input_audio_buffer.committed');
    expect(first.previous_item_id).toBeNull();
    const done1 = await c.next('conversation.item.input_audio_transcription.completed');
    // The detected language in OpenAI's shape (what LiveKit's plugin reads), ours beside it.
    expect(done1).toMatchObject({ item_id: first.item_id, content_index: 0, transcript: WORDS, languages: [{ code: 'en' }], language: 'en' });

    // A language the client names is the one the next item reports.
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { transcription: { language: 'ko' } } } } });
    await c.next('session.updated');
    c.append(clip('speechbrain/spk1_snt2.wav'));
    c.send({ type: 'input_audio_buffer.commit' });
    const second = await c.next('input_audio_buffer.committed');
    expect(second.previous_item_id).toBe(first.item_id);
    const done2 = await c.next('conversation.item.input_audio_transcription.completed');
    expect(done2).toMatchObject({ item_id: second.item_id, transcript: WORDS, languages: [{ code: 'ko' }] });
    expect(c.events.some((e) => e.type === 'error')).toBe(false);
    await c.close();
  });

  it('takes 16 kHz as an extension of the format', async () => {
    const c = await RealtimeClient.connect(url);
    await c.next('session.created');
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcm', rate: 16000 }, turn_detection: null } } } });
    expect((await c.next('session.updated')).session!.audio.input.format.rate).toBe(16000);
    c.append(encodeS16le(loadClip('speechbrain/spk1_snt1.wav')));
    c.send({ type: 'input_audio_buffer.commit' });
    expect((await c.next('conversation.item.input_audio_transcription.completed')).transcript).toBe(WORDS);
    await c.close();
  });

  it('server VAD: speech_started, speech_stopped, committed, append-only deltas and completed for two utterances', async () => {
    const recording = buildRecording(['speechbrain/spk1_snt1.wav', 'speechbrain/spk1_snt2.wav'], 1500);
    const c = await RealtimeClient.connect(url);
    await c.next('session.created');
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: { type: 'server_vad', silence_duration_ms: 500, prefix_padding_ms: 300 } } } } });
    const updated = await c.next('session.updated');
    expect(updated.session!.audio.input.turn_detection).toMatchObject({ type: 'server_vad', silence_duration_ms: 500, prefix_padding_ms: 300 });

    const pcm = to24k(recording.pcm);
    // A microphone's pace, in 64 ms events.
    await streamPaced(pcm, (chunk) => c.send({ type: 'input_audio_buffer.append', audio: chunk.toString('base64') }), { chunkMs: 96, speed: 1.5 });
    const all = await c.until((events) => completedOf(events).length === 2);

    const items = completedOf(all).map((e) => e.item_id!);
    expect(new Set(items).size).toBe(2);
    for (const [i, item] of items.entries()) {
      const mine = all.filter((e) => e.item_id === item).map((e) => e.type);
      const order = ['input_audio_buffer.speech_started', 'input_audio_buffer.speech_stopped', 'input_audio_buffer.committed'];
      expect(mine.filter((t) => order.includes(t))).toEqual(order);
      const done = all.findIndex((e) => e.type === 'conversation.item.input_audio_transcription.completed' && e.item_id === item);
      const deltas = all.filter((e, at) => e.type === 'conversation.item.input_audio_transcription.delta' && e.item_id === item && at < done);
      // Append-only: the deltas, joined, are exactly the transcript, and none follows completed.
      expect(deltas.map((d) => d.delta).join('')).toBe(WORDS);
      expect(all.slice(done + 1).some((e) => e.type.endsWith('.delta') && e.item_id === item)).toBe(false);
      expect(all[done]!.transcript).toBe(WORDS);
      const started = all.find((e) => e.type === 'input_audio_buffer.speech_started' && e.item_id === item)!;
      const clipAt = recording.clips[i]!;
      // The start includes the prefix padding, and lies before the clip's own start (24 kHz makes no difference to ms).
      expect(started.audio_start_ms!).toBeLessThanOrEqual(clipAt.startMs + 200);
      expect(started.audio_start_ms!).toBeGreaterThanOrEqual(clipAt.startMs - 300 - 200);
      const stopped = all.find((e) => e.type === 'input_audio_buffer.speech_stopped' && e.item_id === item)!;
      expect(stopped.audio_end_ms!).toBeGreaterThan(started.audio_start_ms!);
    }
    const committed = all.filter((e) => e.type === 'input_audio_buffer.committed');
    expect(committed[1]!.previous_item_id).toBe(committed[0]!.item_id);
    expect(all.some((e) => e.type === 'error')).toBe(false);
    await c.close();
  });

  it('semantic VAD: server turns whose eagerness sets the end-of-turn waits, echoed in session.updated', async () => {
    // Two clips 1.5 s apart; the synthetic words end no sentence, so the long wait decides.
    const pcm = to24k(buildRecording(['speechbrain/spk1_snt1.wav', 'speechbrain/spk1_snt2.wav'], 1500).pcm);
    const c = await RealtimeClient.connect(url);
    await c.next('session.created');
    const semantic = (eagerness?: string) => ({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: { type: 'semantic_vad', ...(eagerness && { eagerness }) } } } } });

    // Without eagerness: auto, exactly today's server_vad waits.
    c.send(semantic());
    expect((await c.next('session.updated')).session!.audio.input.turn_detection).toEqual({
      type: 'semantic_vad',
      eagerness: 'auto',
      threshold: 0.4,
      prefix_padding_ms: 320,
      silence_duration_ms: 700,
      sentence_end_ms: 450,
    });
    // high: the short waits, so the 1.5 s gap ends a turn: two items, sent as fast as the socket takes them.
    c.send(semantic('high'));
    expect((await c.next('session.updated')).session!.audio.input.turn_detection).toMatchObject({ type: 'semantic_vad', eagerness: 'high', silence_duration_ms: 700 });
    c.append(pcm);
    const two = await c.until((events) => completedOf(events).length === 2);
    expect(completedOf(two).map((e) => e.transcript)).toEqual([WORDS, WORDS]);

    // low: an unfinished sentence may pause 4 s, so the gap (and the tail) stay inside one turn, ended by a commit.
    c.send(semantic('low'));
    expect((await c.next('session.updated')).session!.audio.input.turn_detection).toMatchObject({
      type: 'semantic_vad',
      eagerness: 'low',
      silence_duration_ms: 4000,
      sentence_end_ms: 700,
    });
    const before = c.events.length;
    c.append(pcm);
    c.send({ type: 'input_audio_buffer.commit' });
    const all = await c.until((events) => completedOf(events).length === 3);
    expect(all.slice(before).filter((e) => e.type === 'input_audio_buffer.speech_started')).toHaveLength(1);
    expect(all.some((e) => e.type === 'error')).toBe(false);
    // Back to server_vad: its own defaults, not low's waits.
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: { type: 'server_vad' } } } } });
    expect((await c.next('session.updated')).session!.audio.input.turn_detection).toEqual({
      type: 'server_vad',
      threshold: 0.4,
      prefix_padding_ms: 320,
      silence_duration_ms: 700,
      sentence_end_ms: 450,
    });
    // An eagerness OpenAI does not define is refused, naming the values.
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: { type: 'semantic_vad', eagerness: 'eager' } } } } });
    const bad = (await c.next('error')).error!;
    expect(bad.code).toBe('invalid_request');
    expect(bad.message).toContain('"low", "medium", "high" or "auto"');
    await c.close();
  });

  it('answers malformed events with error events and keeps the session serving', async () => {
    const c = await RealtimeClient.connect(url);
    await c.next('session.created');
    c.send(MANUAL);
    await c.next('session.updated');

    const cases: [string | Buffer, string][] = [
      ['{not json', 'invalid_request'],
      [JSON.stringify({ type: 'response.create' }), 'invalid_request'],
      [JSON.stringify({ type: 'input_audio_buffer.append', audio: '***not base64***', event_id: 'evt_b64' }), 'invalid_value'],
      [JSON.stringify({ type: 'input_audio_buffer.append', audio: Buffer.alloc(3).toString('base64') }), 'invalid_value'],
      [JSON.stringify({ type: 'input_audio_buffer.commit', event_id: 'evt_empty' }), 'input_audio_buffer_commit_empty'],
      [JSON.stringify({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcm', rate: 44100 } } } } }), 'invalid_request'],
      [JSON.stringify({ type: 'session.update', session: { type: 'realtime' } }), 'invalid_request'],
      [Buffer.from([1, 2, 3, 4]), 'invalid_value'],
    ];
    for (const [frame, code] of cases) {
      c.ws.send(frame);
      const e = await c.next();
      expect(e.type, String(frame)).toBe('error');
      expect(e.error!.code, String(frame)).toBe(code);
      expect(e.error!.type).toBe('invalid_request_error');
      expect(e.error!.message.length).toBeGreaterThan(10);
    }
    const empty = c.events.find((e) => e.error?.code === 'input_audio_buffer_commit_empty')!;
    expect(empty.error!.event_id).toBe('evt_empty');

    // clear drops what was appended: a commit right after has nothing to commit.
    c.append(clip('speechbrain/spk1_snt1.wav'));
    c.send({ type: 'input_audio_buffer.clear' });
    await c.next('input_audio_buffer.cleared');
    c.send({ type: 'input_audio_buffer.commit' });
    expect((await c.next('error')).error!.code).toBe('input_audio_buffer_commit_empty');

    // And the session still transcribes.
    c.append(clip('speechbrain/spk1_snt1.wav'));
    c.send({ type: 'input_audio_buffer.commit' });
    expect((await c.next('conversation.item.input_audio_transcription.completed')).transcript).toBe(WORDS);
    await c.close();
  });

  it('server VAD: a commit of nothing, a refused append and an unknown language cost nothing and make no item', async () => {
    const c = await RealtimeClient.connect(url);
    await c.next('session.created');
    // Nothing appended, then less than 100 ms: both commits are empty, as with OpenAI.
    c.send({ type: 'input_audio_buffer.commit', event_id: 'evt_nothing' });
    expect((await c.next('error')).error).toMatchObject({ code: 'input_audio_buffer_commit_empty', event_id: 'evt_nothing' });
    c.append(Buffer.alloc(1200 * 2));
    c.send({ type: 'input_audio_buffer.commit' });
    expect((await c.next('error')).error!.code).toBe('input_audio_buffer_commit_empty');
    // An append over the frame limit is refused, and is not in the buffer afterwards.
    c.send({ type: 'input_audio_buffer.append', event_id: 'evt_big', audio: Buffer.alloc(MAX_FRAME + 2).toString('base64') });
    expect((await c.next('error')).error!.code).toBe('frame_too_large');
    c.send({ type: 'input_audio_buffer.commit' });
    expect((await c.next('error')).error!.code).toBe('input_audio_buffer_commit_empty');
    // A language Whisper does not know is refused by name, and the session keeps its own.
    c.send({ type: 'session.update', event_id: 'evt_zz', session: { type: 'transcription', audio: { input: { transcription: { language: 'zz' } } } } });
    const zz = (await c.next('error')).error!;
    expect(zz).toMatchObject({ type: 'invalid_request_error', code: 'invalid_value', param: 'session.audio.input.transcription.language', event_id: 'evt_zz' });
    expect(zz.message).toContain('"zz"');
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { transcription: { language: 'KO' } } } } });
    expect((await c.next('session.updated')).session!.audio.input.transcription.language).toBe('ko');
    // None of it made an item.
    expect(c.events.some((e) => e.type.startsWith('input_audio_buffer.committed') || e.type.startsWith('conversation.item'))).toBe(false);
    await c.close();
  });

  it('server VAD: an item cleared after speech_started ends with failed (input_audio_buffer_cleared), and the next one completes', async () => {
    const c = await RealtimeClient.connect(url);
    await c.next('session.created');
    // A long end-of-turn wait: the clip's own pauses do not end the turn before the clear does.
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: { type: 'server_vad', silence_duration_ms: 5000 } } } } });
    await c.next('session.updated');
    c.append(clip('speechbrain/spk1_snt1.wav'));
    const started = await c.next('input_audio_buffer.speech_started');
    c.send({ type: 'input_audio_buffer.clear' });
    await c.next('input_audio_buffer.cleared');
    const failed = await c.next('conversation.item.input_audio_transcription.failed');
    expect(failed.item_id).toBe(started.item_id);
    expect(failed.error).toMatchObject({ type: 'invalid_request_error', code: 'input_audio_buffer_cleared' });
    // The next utterance is its own item, committed and completed.
    c.append(Buffer.concat([clip('speechbrain/spk1_snt1.wav'), Buffer.alloc(24_000 * 2)]));
    c.send({ type: 'input_audio_buffer.commit' });
    const done = await c.next('conversation.item.input_audio_transcription.completed');
    expect(done.transcript).toBe(WORDS);
    expect(done.item_id).not.toBe(started.item_id);
    // The cleared item was never committed, completed or failed twice.
    const about = (item: string | undefined) => c.events.filter((e) => e.item_id === item).map((e) => e.type);
    expect(about(started.item_id).filter((t) => t !== 'conversation.item.input_audio_transcription.delta')).toEqual([
      'input_audio_buffer.speech_started',
      'conversation.item.input_audio_transcription.failed',
    ]);
    await c.close();
  });

  it('refuses to change turn detection while a transcript is owed, and allows it once idle', async () => {
    const c = await RealtimeClient.connect(url);
    await c.next('session.created');
    c.send(MANUAL);
    await c.next('session.updated');
    c.append(clip('speechbrain/spk1_snt1.wav'));
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: { type: 'server_vad' } } } } });
    expect((await c.next('error')).error).toMatchObject({ code: 'session_update_not_allowed', param: 'session.audio.input' });
    c.send({ type: 'input_audio_buffer.commit' });
    await c.next('conversation.item.input_audio_transcription.completed');
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { turn_detection: { type: 'server_vad' } } } } });
    expect((await c.next('session.updated')).session!.audio.input.turn_detection).toMatchObject({ type: 'server_vad' });
    await c.close();
  });
});
