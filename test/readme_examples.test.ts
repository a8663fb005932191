import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '@vtuber-stt/core';
import { audioPath, fixtureModel } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const WORDS = syntheticText(fixtureModel('base'), 20);
const README_ADDRESS = 'http://127.0.0.1:8080';

interface Example {
  heading: string;
  lang: string;
  code: string;
}

/** The fenced code blocks of README's "Connect your software", with the sub-heading each sits under. */
function examples(): Example[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Connect your software\n');
  if (start < 0) throw new Error('README has no "Connect your software" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const out: Example[] = [];
  let heading = '';
  const lines = section.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('### ')) heading = line.slice(4);
    const fence = /^```(\w+)$/.exec(line);
    if (!fence) continue;
    const body: string[] = [];
    while (!lines[++i]!.startsWith('```')) body.push(lines[i]!);
    out.push({ heading, lang: fence[1]!, code: body.join('\n') });
  }
  return out;
}

/**
 * What each sub-heading's example must print. A new example (the realtime session, say) adds its
 * sub-heading here with what it must print.
 */
const EXPECTED: Record<string, (output: string) => void> = {
  'OpenAI SDK (JavaScript, REST transcription)': (out) => {
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe(WORDS);
    expect(lines.slice(1).map((l) => l.replace(/^\d+\.\d\d-\d+\.\d\d /, '')).join(' ')).toBe(WORDS);
  },
  'Streaming, as AIRI reads it (`stream=true`, server-sent events)': (out) => {
    const deltas = [...out.matchAll(/^delta: (.*)$/gm)].map((m) => m[1]!.trim());
    expect(deltas.length).toBeGreaterThanOrEqual(1);
    for (const d of deltas) expect(d).toBe(WORDS);
    expect(out).toMatch(new RegExp(`^done: ${WORDS}`, 'm'));
  },
  'A realtime session (OpenAI Realtime API, transcription intent)': (out) => {
    expect(out.trim()).toBe(WORDS);
  },
  curl: (out) => {
    // Four commands, their outputs back to back (JSON answers end without a newline).
    expect(out.startsWith(`{"text":"${WORDS}","languages":[{"code":"en"}]}`)).toBe(true);
    expect(out).toMatch(/data: \{"type":"transcript\.text\.delta","delta":"/);
    expect(out).toMatch(/data: \{"type":"transcript\.text\.done","text":"/);
    expect(out.split(`{"text":"${WORDS}"}`).length - 1).toBe(1); // the translation (OpenAI's names no language)
    expect(out).toMatch(new RegExp(`\\{"type":"transcript","seq":1,[^{]*"text":"${WORDS}"`));
  },
};

describe('README "Connect your software": every example runs as written', () => {
  let service: RunningService;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  const work = mkdtempSync(join(tmpdir(), 'readme-examples-'));
  // Scripts live under node_modules so that their imports (openai, eventsource-parser) resolve as in a user's project.
  const scripts = join(root, 'node_modules', '.readme-examples');

  beforeAll(async () => {
    service = await startTestService();
    proxy = await startTestProxy({ cpu: service.url });
    // The file every example names: fixture speech, encoded as an MP3.
    await run('ffmpeg', ['-v', 'error', '-y', '-i', audioPath('whisper.cpp/jfk.wav'), '-c:a', 'libmp3lame', '-b:a', '48k', join(work, 'speech.mp3')]);
    mkdirSync(scripts, { recursive: true });
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
    rmSync(scripts, { recursive: true, force: true });
  });

  it('has the examples it promises', () => {
    const headings = new Set(examples().map((e) => e.heading));
    for (const h of Object.keys(EXPECTED)) expect(headings, h).toContain(h);
  });

  for (const example of examples()) {
    it(`runs "${example.heading}" (${example.lang})`, async () => {
      const check = EXPECTED[example.heading];
      expect(check, `no expectation for the README example under "${example.heading}"`).toBeDefined();
      const code = example.code.replaceAll(README_ADDRESS, proxy.url).replaceAll(README_ADDRESS.replace('http', 'ws'), proxy.ws);
      expect(code).not.toBe(example.code); // it talks to the proxy
      let output: string;
      if (example.lang === 'js') {
        const file = join(scripts, `${example.heading.replace(/\W+/g, '_')}.mjs`);
        writeFileSync(file, code);
        output = (await run(process.execPath, [file], { cwd: work, timeout: 120_000 })).stdout;
      } else if (example.lang === 'sh') {
        output = (await run('bash', ['-euo', 'pipefail', '-c', code], { cwd: work, timeout: 120_000 })).stdout;
      } else throw new Error(`no runner for \`\`\`${example.lang} blocks`);
      check!(output);
    });
  }
});
