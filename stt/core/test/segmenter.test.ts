import { describe, expect, it } from 'vitest';
import { Segmenter, type DetectorUpdate, type SegmentAction } from '../src/turns/index.js';

/** 512-sample chunks, as the clients and Silero see them. */
const CHUNK = 512;

/** Feeds one update per chunk [from, to): speech where `speech(i)` says so, plus any extra fields. */
function feed(seg: Segmenter, chunks: number, speech: (i: number) => boolean, extra: (i: number) => Partial<DetectorUpdate> = () => ({})): SegmentAction[] {
  const out: SegmentAction[] = [];
  for (let i = 0; i < chunks; i++) out.push(...seg.update({ to: (i + 1) * CHUNK, speech: speech(i), ...extra(i) }));
  return out;
}

/** The audio the actions send, as merged [from, to) ranges per utterance (what a client transmits). */
function utterances(actions: SegmentAction[]): { at: number; from: number; audio: [number, number][]; end?: Extract<SegmentAction, { type: 'end' }>; discarded?: boolean }[] {
  const list: ReturnType<typeof utterances> = [];
  for (const a of actions) {
    const cur = list.at(-1);
    if (a.type === 'start') list.push({ at: a.at, from: a.from, audio: [] });
    else if (a.type === 'audio') {
      const last = cur!.audio.at(-1);
      if (last && last[1] === a.from) last[1] = a.to;
      else cur!.audio.push([a.from, a.to]);
    } else if (a.type === 'end') cur!.end = a;
    else cur!.discarded = true;
  }
  return list;
}

describe('Segmenter', () => {
  it('starts a pre-roll before the detected start, and sends the audio as the detector judges it', () => {
    const seg = new Segmenter({ preRoll: 4800, maxLength: 0, hangover: 0 });
    // Speech detected at chunk 20, announced on the reply to chunk 23 (the detector confirms late).
    const actions = feed(seg, 40, (i) => i >= 20 && i < 30, (i) => (i === 23 ? { start: 20 * CHUNK } : i === 35 ? { end: 30 * CHUNK } : {}));
    const [u, ...rest] = utterances(actions);
    expect(rest).toEqual([]);
    expect(u).toMatchObject({ at: 20 * CHUNK, from: 20 * CHUNK - 4800, audio: [[20 * CHUNK - 4800, 36 * CHUNK]] });
    expect(u!.end).toEqual({ type: 'end', start: 20 * CHUNK, end: 30 * CHUNK, reason: 'speech_end' });
    expect(seg.open).toBe(false);
  });

  it('clamps the pre-roll at the start of input', () => {
    const seg = new Segmenter({ preRoll: 4800, maxLength: 0, hangover: 0 });
    const [u] = utterances(seg.update({ to: CHUNK * 2, speech: true, start: 0 }));
    expect(u).toMatchObject({ at: 0, from: 0, audio: [[0, 2 * CHUNK]] });
  });

  it('never reaches back into audio the previous utterance took', () => {
    const seg = new Segmenter({ preRoll: 16000, maxLength: 0, hangover: 0 });
    const actions = [
      ...seg.update({ to: 10 * CHUNK, speech: true, start: 2 * CHUNK }),
      ...seg.update({ to: 12 * CHUNK, speech: false, end: 11 * CHUNK }),
      // 1 s of pre-roll would start at 14 chunks - 31.25 chunks: the previous utterance's audio ended at 12.
      ...seg.update({ to: 16 * CHUNK, speech: true, start: 14 * CHUNK }),
    ];
    const [first, second] = utterances(actions);
    expect(first!.audio).toEqual([[0, 12 * CHUNK]]);
    expect(second).toMatchObject({ at: 14 * CHUNK, from: 12 * CHUNK, audio: [[12 * CHUNK, 16 * CHUNK]] });
  });

  it('splits an utterance at the maximum length and goes on at once, without losing or repeating audio', () => {
    const max = 10 * CHUNK;
    const seg = new Segmenter({ preRoll: 0, maxLength: max, hangover: 0 });
    const actions = feed(seg, 25, () => true, (i) => (i === 0 ? { start: 0 } : {}));
    const list = utterances(actions);
    expect(list.map((u) => u.end?.reason)).toEqual(['max_length', 'max_length', undefined]);
    expect(list.map((u) => u.audio)).toEqual([[[0, max]], [[max, 2 * max]], [[2 * max, 25 * CHUNK]]]);
    expect(list[1]).toMatchObject({ at: max, from: max });
    expect(seg.speechStart).toBe(2 * max);
  });

  it('opens no empty utterance when the maximum length and the end fall on the same update', () => {
    const max = 10 * CHUNK;
    const seg = new Segmenter({ preRoll: 0, maxLength: max, hangover: 0 });
    const actions = feed(seg, 10, () => true, (i) => (i === 0 ? { start: 0 } : i === 9 ? { end: 10 * CHUNK } : {}));
    const list = utterances(actions);
    expect(list).toHaveLength(1);
    expect(list[0]!.end).toMatchObject({ reason: 'speech_end', start: 0, end: 10 * CHUNK });
    expect(seg.open).toBe(false);
  });

  it('discards an utterance the detector withdraws, and sends none of the rest of it', () => {
    const seg = new Segmenter({ preRoll: 1024, maxLength: 0, hangover: 0 });
    const withdrawnAt = 5;
    const actions = feed(seg, 7, (i) => i >= 2 && i < withdrawnAt, (i) => (i === 2 ? { start: 2 * CHUNK } : i === withdrawnAt ? { withdrawn: 2 * CHUNK } : {}));
    const [u, ...rest] = utterances(actions);
    expect(rest).toEqual([]);
    expect(u!.discarded).toBe(true);
    expect(u!.end).toBeUndefined();
    expect(u!.audio).toEqual([[0, withdrawnAt * CHUNK]]);
    expect(seg.open).toBe(false);
    // The next utterance's pre-roll (2 chunks) does not take the withdrawn audio back.
    const [next] = utterances(seg.update({ to: 8 * CHUNK, speech: true, start: 7 * CHUNK }));
    expect(next!.from).toBe(withdrawnAt * CHUNK + CHUNK);
  });

  it('ignores a withdrawal of an utterance that already ended', () => {
    const seg = new Segmenter({ preRoll: 0, maxLength: 0, hangover: 0 });
    seg.update({ to: 4 * CHUNK, speech: true, start: 0 });
    seg.update({ to: 5 * CHUNK, speech: false, end: 4 * CHUNK });
    const actions = [...seg.update({ to: 6 * CHUNK, speech: true, start: 5 * CHUNK }), ...seg.update({ to: 7 * CHUNK, speech: true, withdrawn: 0 })];
    expect(actions.some((a) => a.type === 'discard')).toBe(false);
    expect(seg.speechStart).toBe(5 * CHUNK);
  });

  it('ends after the hang-over of silence, at the end of the speech', () => {
    const seg = new Segmenter({ preRoll: 0, maxLength: 0, hangover: 8 * CHUNK });
    const actions = feed(seg, 30, (i) => i < 10, (i) => (i === 0 ? { start: 0 } : {}));
    const list = utterances(actions);
    expect(list).toHaveLength(1);
    expect(list[0]!.end).toEqual({ type: 'end', start: 0, end: 10 * CHUNK, reason: 'hangover' });
    // Audio up to the update that decided the end: the hang-over's silence is part of it.
    expect(list[0]!.audio).toEqual([[0, 18 * CHUNK]]);
  });

  it('resets the hang-over count on speech, so a shorter pause does not end the utterance', () => {
    const seg = new Segmenter({ preRoll: 0, maxLength: 0, hangover: 8 * CHUNK });
    const actions = feed(seg, 30, (i) => i < 10 || (i >= 15 && i < 20), (i) => (i === 0 ? { start: 0 } : {}));
    expect(utterances(actions).map((u) => u.end)).toEqual([{ type: 'end', start: 0, end: 20 * CHUNK, reason: 'hangover' }]);
  });

  it('opens a new utterance when speech resumes after its hang-over ended one the detector still holds', () => {
    const seg = new Segmenter({ preRoll: 2 * CHUNK, maxLength: 0, hangover: 4 * CHUNK });
    // The detector's utterance spans chunks 0-20 (a long hang-over of its own); speech pauses at 5-11.
    const actions = feed(seg, 24, (i) => i < 5 || (i >= 12 && i < 18), (i) => (i === 0 ? { start: 0 } : i === 21 ? { end: 18 * CHUNK } : {}));
    const list = utterances(actions);
    expect(list.map((u) => u.end?.reason)).toEqual(['hangover', 'speech_end']);
    expect(list[0]!.end).toMatchObject({ start: 0, end: 5 * CHUNK });
    expect(list[1]).toMatchObject({ at: 12 * CHUNK, from: 10 * CHUNK, audio: [[10 * CHUNK, 22 * CHUNK]] });
    expect(list[1]!.end).toMatchObject({ start: 12 * CHUNK, end: 18 * CHUNK });
    // Silence after the detector's end opens nothing, and neither does speech without its start.
    expect(seg.update({ to: 25 * CHUNK, speech: true })).toEqual([]);
  });

  it('finishes the open utterance with the audio up to the end of input', () => {
    const seg = new Segmenter({ preRoll: 0, maxLength: 10 * CHUNK, hangover: 0 });
    const list = utterances([...feed(seg, 6, () => true, (i) => (i === 1 ? { start: CHUNK } : {})), ...seg.finish(10 * CHUNK)]);
    expect(list).toHaveLength(1);
    expect(list[0]!.audio).toEqual([[CHUNK, 10 * CHUNK]]);
    expect(list[0]!.end).toEqual({ type: 'end', start: CHUNK, end: 10 * CHUNK, reason: 'finish' });
    expect(seg.open).toBe(false);
    expect(seg.finish(11 * CHUNK)).toEqual([]);
  });

  it('passes audio through without verdicts while an utterance is open (the detector away)', () => {
    const seg = new Segmenter({ preRoll: 0, maxLength: 0, hangover: 4 * CHUNK });
    seg.update({ to: CHUNK, speech: true, start: 0 });
    // No `speech`: no hang-over count, the utterance stays open and takes the audio.
    expect(seg.update({ to: 20 * CHUNK })).toEqual([{ type: 'audio', from: CHUNK, to: 20 * CHUNK }]);
    expect(seg.open).toBe(true);
  });
});
