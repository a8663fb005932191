import { readFileSync } from 'node:fs';
import { initializeLogger, stt as livekitStt } from '@livekit/agents';
import * as livekitOpenAI from '@livekit/agents-plugin-openai';
import { AudioFrame } from '@livekit/rtc-node';
import { generateTranscription } from '@xsai/generate-transcription';
import { streamTranscription } from '@xsai/stream-transcription';
import { describe, expect, it } from 'vitest';
import { encodeS16le } from '@vtuber-stt/core';
import { audioPath, fixtureModel, loadClip } from '../helpers/fixtures.js';
import { serviceBehindProxy } from '../helpers/proxy.js';
import { to24k } from '../helpers/realtime_client.js';
import { syntheticText } from '../helpers/synthetic_model.js';

/**
 * Clients people already run, installed from the registry and called exactly as their own
 * documentation (or, for AIRI, its source) calls them, pointed at the proxy. The openai SDK's
 * REST calls, `stream: true` included, are in openai_audio.test.ts.
 */
const WORDS = syntheticText(fixtureModel('base'), 20);
const SHORT = audioPath('speechbrain/spk1_snt1.wav');

describe('third-party clients against the proxy', () => {
  const stack = serviceBehindProxy();

  it("AIRI's xsAI calls: generateTranscription (json, verbose_json) and streamTranscription", async () => {
    // What AIRI's providers give xsAI (@xsai-ext's createTranscriptionProvider): a base URL with
    // its trailing slash, a key, the model name.
    const provider = { transcription: (model: string) => ({ baseURL: `${stack.proxy.url}/v1/`, apiKey: 'not-checked', model }) };
    const file = new Blob([readFileSync(SHORT)], { type: 'audio/wav' });

    const plain = await generateTranscription({ ...provider.transcription('whisper-1'), file, responseFormat: 'json' });
    expect(plain.text).toBe(WORDS);
    const verbose = await generateTranscription({ ...provider.transcription('whisper-1'), file, fileName: 'speech.wav', responseFormat: 'verbose_json' });
    expect(verbose).toMatchObject({ text: WORDS, language: 'english' });
    expect(verbose.segments.map((s) => s.text.trim()).join(' ')).toBe(WORDS);

    const streamed = streamTranscription({ ...provider.transcription('gpt-4o-transcribe'), file, fileName: 'speech.wav', language: 'en' });
    const deltas: string[] = [];
    for await (const delta of streamed.textStream) deltas.push(delta);
    expect(deltas.length).toBeGreaterThanOrEqual(1);
    expect((await streamed.text).trim()).toBe(WORDS);
    expect(deltas.join('')).toBe(await streamed.text);
  });

  it("LiveKit's OpenAI plugin: stream() with semantic_vad and detectLanguage, and recognize()", async () => {
    // What a LiveKit agent worker does at start; here there is no worker, no room: the plugin's
    // STT is used on its own, as its stream() and recognize() allow.
    initializeLogger({ pretty: false, level: 'warn' });
    const stt = new livekitOpenAI.STT({
      baseURL: `${stack.proxy.url}/v1`,
      apiKey: 'not-checked',
      model: 'gpt-4o-transcribe',
      detectLanguage: true,
      turnDetection: { type: 'semantic_vad', eagerness: 'high' },
    });
    const errors: unknown[] = [];
    stt.on('error', (e) => errors.push(e.error));
    // 24 kHz, the plugin's rate: 0.5 s of silence, the clip, 1 s of silence (past high's waits).
    const pcm = Buffer.concat([Buffer.alloc(24_000), to24k(encodeS16le(loadClip('speechbrain/spk1_snt1.wav'))), Buffer.alloc(48_000)]);
    const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);

    const stream = stt.stream();
    // 100 ms frames, as fast as the plugin takes them: the service's turns run on the audio clock.
    for (let i = 0; i < samples.length; i += 2400) {
      const frame = samples.slice(i, i + 2400);
      stream.pushFrame(new AudioFrame(frame, 24_000, 1, frame.length));
    }
    const seen: livekitStt.SpeechEventType[] = [];
    let final: livekitStt.SpeechData | undefined;
    for await (const event of stream) {
      seen.push(event.type);
      if (event.type === livekitStt.SpeechEventType.FINAL_TRANSCRIPT) {
        final = event.alternatives![0];
        break;
      }
    }
    stream.close();
    expect(errors).toEqual([]);
    expect(seen[0]).toBe(livekitStt.SpeechEventType.START_OF_SPEECH);
    expect(final).toMatchObject({ text: WORDS, language: 'en' });

    const recognized = await stt.recognize(new AudioFrame(samples, 24_000, 1, samples.length));
    expect(recognized.type).toBe(livekitStt.SpeechEventType.FINAL_TRANSCRIPT);
    expect(recognized.alternatives![0]).toMatchObject({ text: WORDS, language: 'en' });
    await stt.close();
  });
});
