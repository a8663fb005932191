/**
 * What a session's language memory (STT_LANGUAGE_MEMORY) saves: engine jobs and engine time per
 * utterance of a server-turns session in `auto`, memory on against off, in one sitting. Two
 * conversations: one language throughout (the synthetic base model, English), and a speaker
 * switching every utterance (the bilingual synthetic base model: marked audio is Korean).
 * Each utterance is sent once the one before is answered (its turn logic runs on the audio clock).
 *
 *   flock /tmp/vitest.lock npx tsx bench/language_memory.ts [utterances]
 */
import { encodeS16le } from '@vtuber-stt/core';
import { bilingualModel, withKoreanMarker } from '../test/helpers/bilingual_model.js';
import { fixtureModel, loadClip } from '../test/helpers/fixtures.js';
import { feeder, roomNoise } from '../test/helpers/recording.js';
import { startTestService } from '../test/helpers/service.js';
import { syntheticModel } from '../test/helpers/synthetic_model.js';
import { TestClient } from '../test/helpers/ws_client.js';

const RATE = 16000;
const N = Number(process.argv[2] ?? 8);
const CLIPS = ['speechbrain/spk1_snt1.wav', 'speechbrain/spk1_snt2.wav', 'speechbrain/spk1_snt3.wav', 'speechbrain/spk2_snt1.wav', 'speechbrain/spk2_snt3.wav', 'speechbrain/spk2_snt4.wav'].map(loadClip);

const room = roomNoise;

function conversation(switching: boolean): { pcm: Buffer; ends: number[] } {
  const parts: Float32Array[] = [room(0.4, 1)];
  const ends: number[] = [];
  let at = parts[0]!.length;
  for (let i = 0; i < N; i++) {
    const clip = CLIPS[i % CLIPS.length]!;
    const speech = switching && i % 2 === 1 ? withKoreanMarker(clip) : clip;
    parts.push(speech, room(1.5, i + 7));
    at += speech.length + 1.5 * RATE;
    ends.push((at / RATE) * 1000);
  }
  const all = new Float32Array(at);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return { pcm: encodeS16le(all), ends };
}

async function run(model: string, switching: boolean, memory: boolean) {
  const service = await startTestService({ model }, { STT_LANGUAGE_MEMORY: memory ? 'on' : 'off' });
  const engine = service.state.transcriber!.engine;
  const transcribe = engine.transcribe.bind(engine);
  const jobs = { checks: 0, decodes: 0, ms: 0 };
  engine.transcribe = async (pcm, options, signal) => {
    const began = performance.now();
    try {
      return await transcribe(pcm, options, signal);
    } finally {
      jobs.ms += performance.now() - began;
      if (options.detectOnly) jobs.checks++;
      else jobs.decodes++;
    }
  };
  const c = await TestClient.connect(`${service.ws}?turns=server`);
  const { pcm, ends } = conversation(switching);
  const feed = feeder(pcm, (chunk) => c.ws.send(chunk));
  const languages: string[] = [];
  for (const end of ends) {
    feed.to(end);
    for (;;) {
      const m = await c.next<{ type: string; final?: boolean; language?: string }>(60_000);
      if (m.type === 'transcript' && m.final !== false) {
        languages.push(m.language!);
        break;
      }
    }
  }
  const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
  const wasted = Number(/stt_speculative_wasted_seconds_total\{[^}]*\} (\S+)/.exec(metrics)?.[1] ?? 0) * 1000;
  await c.close();
  await service.close();
  return { ...jobs, wasted, languages: languages.join(' ') };
}

const plain = syntheticModel(fixtureModel('base'), 20);
const bilingual = bilingualModel(fixtureModel('base'), 6, {});
console.log(`${N} utterances a run; synthetic base; engine jobs and engine ms per utterance`);
console.log('conversation | memory | checks/utt | decodes/utt | engine ms/utt | of which wasted speculation | languages');
for (const [name, model, switching] of [['one language', plain, false], ['switching', bilingual, true]] as const) {
  for (const memory of [false, true, false, true]) {
    const r = await run(model, switching, memory);
    console.log(`${name} | ${memory ? 'on' : 'off'} | ${(r.checks / N).toFixed(2)} | ${(r.decodes / N).toFixed(2)} | ${(r.ms / N).toFixed(0)} | ${(r.wasted / N).toFixed(0)} | ${r.languages}`);
  }
}
