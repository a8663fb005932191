/**
 * Tunes the utterance hysteresis on the labelled fixtures: Silero runs once per clip, then every
 * setting in the grid replays the probabilities offline. Prints the best settings by frame F1
 * (speechbrain VAD files, mfa long file), with the non-speech false-positive rate and the worst
 * onset delay over the spoken clips. Usage: npm run bench:tune
 */
import { DEFAULT_TRACKER, SileroModel, UtteranceTracker, type TrackerSettings } from '@vtuber-stt/core';
import { loadClip, manifest } from '../test/helpers/fixtures.js';
import { energyOnset, frameF1, labelledOnset, vadIntervals } from '../test/helpers/vad_labels.js';

const model = await SileroModel.load();
const probs = async (clip: string) => model.createStream().push(loadClip(clip));

const labelled = [
  { clip: 'speechbrain/VAD_train.wav', span: 4 },
  { clip: 'speechbrain/VAD_valid.wav', span: 8 },
  { clip: 'mfa/LONG_michaelandsickmichael.wav', span: 52.4 },
];
const rows = manifest();
const speechClips = rows.filter((r) => r.category === 'speech').map((r) => r.file);
const quietClips = rows.filter((r) => r.category === 'non_speech' || r.category === 'synthetic_non_speech').map((r) => r.file);

const cache = new Map<string, { p: number[]; onset: number }>();
for (const clip of [...labelled.map((l) => l.clip), ...speechClips, ...quietClips]) {
  cache.set(clip, { p: await probs(clip), onset: labelledOnset(clip) ?? energyOnset(loadClip(clip)) });
}

function replay(p: number[], s: TrackerSettings) {
  const t = new UtteranceTracker(s);
  const decisions: boolean[] = [];
  let firstStartAt = -1;
  p.forEach((x, i) => {
    const e = t.push(x);
    if (e?.type === 'speech_start' && firstStartAt < 0) firstStartAt = (i + 1) * 32;
    decisions.push(t.speechNow || e?.type === 'speech_start');
  });
  return { decisions, firstStartAt };
}

const results = [];
const hangoverMs = 480; // utterance ends: a conversational pause, not a frame-level choice
for (const threshold of [0.3, 0.4, 0.5, 0.6])
  for (const gap of [0.1, 0.15, 0.25])
    for (const minSpeechMs of [32, 64, 96, 160, 250])
      for (const frameHoldMs of [0, 32, 64, 96, 160, 256]) {
        const s = { threshold, negThreshold: threshold - gap, minSpeechMs, hangoverMs, frameHoldMs };
        const f1s = labelled.map((l) => frameF1(replay(cache.get(l.clip)!.p, s).decisions, vadIntervals(l.clip)!, l.span).f1);
        let worstDelay = 0;
        let missed = 0;
        for (const clip of speechClips) {
          const { p, onset } = cache.get(clip)!;
          const r = replay(p, s);
          if (r.firstStartAt < 0) missed++;
          else worstDelay = Math.max(worstDelay, r.firstStartAt - onset * 1000);
        }
        let fpChunks = 0;
        let chunks = 0;
        for (const clip of quietClips) {
          const r = replay(cache.get(clip)!.p, s);
          fpChunks += r.decisions.filter(Boolean).length;
          chunks += r.decisions.length;
        }
        results.push({ ...s, f1: f1s.map((f) => Number(f.toFixed(3))), meanF1: f1s.reduce((a, b) => a + b, 0) / f1s.length, worstDelay, missed, fpRate: fpChunks / chunks });
      }
const ok = results.filter((r) => r.missed === 0 && r.worstDelay <= 1000 && r.fpRate <= 0.05).sort((a, b) => b.meanF1 - a.meanF1);
console.log(`${results.length} settings, ${ok.length} meet onset <= 1 s and <= 5 % false positives. Best:`);
const best = [...results].sort((a, b) => b.meanF1 - a.meanF1).slice(0, 3);
console.log('best F1 regardless of constraints:', JSON.stringify(best));
for (const r of ok.slice(0, 10)) console.log(JSON.stringify({ ...r, meanF1: Number(r.meanF1.toFixed(3)), fpRate: Number(r.fpRate.toFixed(4)) }));
await model.release();
if (process.argv.includes('--debug')) {
  const s = DEFAULT_TRACKER;
  for (const clip of speechClips) {
    const { p, onset } = cache.get(clip)!;
    const x = replay(p, s);
    if (x.firstStartAt < 0 || x.firstStartAt - onset * 1000 > 1000) console.log('late', clip, onset, x.firstStartAt, Math.max(...p).toFixed(2));
  }
  for (const clip of quietClips) {
    const x = replay(cache.get(clip)!.p, s);
    console.log('quiet', clip, (x.decisions.filter(Boolean).length / x.decisions.length).toFixed(3));
  }
}
