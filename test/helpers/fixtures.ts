import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeWav, resample, SAMPLE_RATE } from '@vtuber-stt/core';

/** `../shared/fixtures` beside the checkout, or STT_FIXTURES. */
export const FIXTURES = resolve(process.env.STT_FIXTURES ?? fileURLToPath(new URL('../../../shared/fixtures', import.meta.url)));

if (!existsSync(FIXTURES)) throw new Error(`test fixtures not found at ${FIXTURES}: set STT_FIXTURES`);

export const fixtureModel = (name: 'tiny' | 'base' | 'tiny.en' | 'base.en') => join(FIXTURES, 'models', `for-tests-ggml-${name}.bin`);
export const audioPath = (rel: string) => join(FIXTURES, 'audio', rel);

/** A fixture clip as 16 kHz mono float32. */
export function loadClip(rel: string): Float32Array {
  const wav = decodeWav(readFileSync(audioPath(rel)));
  return resample(wav.samples, wav.sampleRate, SAMPLE_RATE);
}

export interface ManifestRow {
  file: string;
  language: string;
  duration_s: number;
  transcript: string;
  category: string;
}

export function manifest(): ManifestRow[] {
  const [header, ...rows] = readFileSync(join(FIXTURES, 'audio', 'MANIFEST.tsv'), 'utf8').trim().split('\n');
  const cols = header!.split('\t');
  return rows.map((line) => {
    const cells = line.split('\t');
    const get = (name: string) => cells[cols.indexOf(name)] ?? '';
    return { file: get('file'), language: get('language'), duration_s: Number(get('duration_s')), transcript: get('transcript'), category: get('category') };
  });
}
