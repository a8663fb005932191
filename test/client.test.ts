import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningService } from '@vtuber-stt/core';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { freePort, spawnService, type ServiceProcess } from './helpers/processes.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService, TEST_MODEL } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';

const WORDS = syntheticText(fixtureModel('base'), 20);
const LONG = audioPath('coqui-tts-ljspeech/LONG_LJ001-0001_to_0008_concat.wav');
const CLIENT = 'client/audio_streaming_input/bin/vtuber-stt-client.mjs';

interface Line {
  text: string;
  language: string;
  start_ms: number;
  end_ms: number;
  latency_ms: number;
  seq: number;
}

interface ClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: Line[];
}

/** Runs the real client CLI; `during` may act on the running process (signals, killing servers). */
function runClient(args: string[], options: { env?: Record<string, string>; stdin?: Buffer; during?: (child: ReturnType<typeof spawn>) => Promise<void> } = {}): Promise<ClientRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLIENT, ...args], { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    if (options.stdin) child.stdin.end(options.stdin);
    else child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    void options.during?.(child);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const lines = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Line);
      resolve({ code, stdout, stderr, lines });
    });
  });
}

/** Lines the first, undisturbed run printed: runs with failures must print as many. */
let baseline = 0;

function expectUtterances(lines: Line[]) {
  // Eight sentences with half-second pauses; a pause shorter than the hang-over may join two.
  expect(lines.length).toBeGreaterThanOrEqual(6);
  expect(lines.length).toBeLessThanOrEqual(8);
  lines.forEach((l, i) => {
    expect(l).toMatchObject({ text: WORDS, seq: i + 1 });
    expect(l.end_ms).toBeGreaterThan(l.start_ms);
    if (i > 0) expect(l.start_ms).toBeGreaterThanOrEqual(lines[i - 1]!.end_ms);
  });
  expect(lines[0]!.start_ms).toBeLessThan(1000);
  expect(lines.at(-1)!.end_ms).toBeGreaterThan(50_000);
}

describe('microphone client against the real stack', () => {
  let cpu: RunningService;
  let detect: ServiceProcess;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;

  beforeAll(async () => {
    [cpu, detect] = await Promise.all([startTestService(), spawnService('stt/tiny_ws/src/main.ts', { STT_DETECTOR: 'silero' })]);
    proxy = await startTestProxy({ cpu: cpu.url, detect: detect.url });
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([cpu?.close(), detect?.stop()]);
  });

  it('prints one line per utterance of a recording with pauses, and none for the pauses', async () => {
    const run = await runClient(['--server', proxy.ws, '--input', LONG, '--fast']);
    expect(run.code).toBe(0);
    expectUtterances(run.lines);
    expect(run.lines.every((l) => l.language === 'en' && l.latency_ms >= 0)).toBe(true);
    baseline = run.lines.length;
    expect(run.stderr).toContain('listening');
  });

  it('prints plain text with --text', async () => {
    const run = await runClient(['--server', proxy.ws, '--input', audioPath('picovoice-leopard/test_en.wav'), '--fast', '--text']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${WORDS}\n`);
  });

  it.each(['speechbrain/noise1.wav', 'generated/pinknoise_10s.wav', 'generated/silence_10s.wav'])('prints nothing for %s', async (clip) => {
    const run = await runClient(['--server', proxy.ws, '--input', audioPath(clip), '--fast']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
  });

  it('reads raw PCM from stdin in a declared format', async () => {
    const clip = loadClip('picovoice-leopard/test_en.wav');
    const run = await runClient(['--server', proxy.ws, '--input', '-', '--stdin-format', 'sample_rate=16000&encoding=f32le'], { stdin: Buffer.from(clip.buffer) });
    expect(run.code).toBe(0);
    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]!.text).toBe(WORDS);
  });

  it('finishes the utterance in progress on Ctrl-C and waits for its text', async () => {
    const run = await runClient(['--server', proxy.ws, '--input', audioPath('whisper.cpp/jfk.wav'), '--realtime'], {
      during: async (child) => {
        await new Promise((r) => setTimeout(r, 3500));
        child.kill('SIGINT');
      },
    });
    expect(run.code).toBe(0);
    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]!.text).toBe(WORDS);
    expect(run.lines[0]!.end_ms).toBeLessThan(5000);
  });

  it('loses no utterance when the transcription server is killed and restarted mid-run', async () => {
    const port = await freePort();
    const env = { STT_MODEL: TEST_MODEL(), PORT: String(port) };
    let server = await spawnService('stt/cpu_ws/src/main.ts', env);
    try {
      const run = await runClient(
        ['--detect-url', `${detect.url.replace('http', 'ws')}/ws/detect`, '--transcribe-url', `ws://127.0.0.1:${port}/ws/transcribe`, '--input', LONG, '--speed', '6'],
        {
          during: async () => {
            await new Promise((r) => setTimeout(r, 2500));
            await server.stop('SIGKILL');
            await new Promise((r) => setTimeout(r, 1500));
            server = await spawnService('stt/cpu_ws/src/main.ts', env);
          },
        },
      );
      expect(run.code).toBe(0);
      expect(run.stderr).toContain('transcription connection lost');
      expectUtterances(run.lines);
      expect(run.lines).toHaveLength(baseline);
    } finally {
      await server.stop();
    }
  });
});

describe('microphone client through the proxy', () => {
  it('loses no utterance when the only transcription backend behind the proxy restarts', async () => {
    const port = await freePort();
    const env = { STT_MODEL: TEST_MODEL(), PORT: String(port) };
    let server = await spawnService('stt/cpu_ws/src/main.ts', env);
    const detect = await spawnService('stt/tiny_ws/src/main.ts', { STT_DETECTOR: 'silero' });
    const proxy = await startTestProxy({ cpu: `http://127.0.0.1:${port}`, detect: detect.url });
    try {
      const run = await runClient(['--server', proxy.ws, '--input', LONG, '--speed', '6'], {
        during: async () => {
          await new Promise((r) => setTimeout(r, 2500));
          await server.stop('SIGKILL');
          // Longer than the proxy's own retries: it answers engine_unavailable, and the client waits.
          await new Promise((r) => setTimeout(r, 3500));
          server = await spawnService('stt/cpu_ws/src/main.ts', env);
        },
      });
      expect(run.code).toBe(0);
      expectUtterances(run.lines);
      expect(run.lines).toHaveLength(baseline);
    } finally {
      await proxy.close();
      await Promise.all([server.stop(), detect.stop()]);
    }
  });
});

describe('client errors', () => {
  const speechFile = audioPath('speechbrain/spk1_snt1.wav');

  it.each([
    [['--server', 'ws://127.0.0.1:1', '--input', speechFile], /cannot reach ws:\/\/127\.0\.0\.1:1\/ws\/(detect|transcribe)/],
    [['--server', 'not a url', '--input', speechFile], /--server must be a URL/],
    [['--server', 'ftp://example.org', '--input', speechFile], /--server must be ws:\/\//],
    [['--input', '/no/such/file.wav'], /cannot read \/no\/such\/file\.wav: no such file/],
    [['--input', join(mkdtempSync(join(tmpdir(), 'client-')), 'x.wav')], /cannot read/],
    [['--speed', '-2', '--input', speechFile], /--speed must be a positive number/],
  ])('%j ends with a clear message and a non-zero exit', async (args, message) => {
    const run = await runClient(args as string[]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message as RegExp);
  });

  it('refuses a file that is not WAV', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'client-'));
    writeFileSync(join(dir, 'notes.wav'), 'these are not samples');
    const run = await runClient(['--input', join(dir, 'notes.wav')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/cannot use .*notes\.wav: not a WAV file/);
  });

  it('names what to install when no capture tool is on PATH', async () => {
    const run = await runClient([], { env: { PATH: '/nonexistent' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no audio capture tool found on PATH: install one of: alsa-utils \(arecord\), ffmpeg or sox/);
  });

  it('reports a capture tool that cannot open a microphone, in its own words', async () => {
    const server = await startTestService();
    try {
      const run = await runClient(['--capture', 'sox', '--transcribe-url', `${server.url.replace('http', 'ws')}/ws/transcribe`, '--detect-url', `${server.url.replace('http', 'ws')}/ws/transcribe`]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/capture with sox failed|sox was asked for/);
    } finally {
      await server.close();
    }
  });

  it('documents every option in --help', async () => {
    const run = await runClient(['--help']);
    for (const option of ['--server', '--input', '--realtime', '--fast', '--device', '--list-devices', '--pre-roll-ms', '--hangover-ms', '--max-utterance-s', '--text']) {
      expect(run.stdout).toContain(option);
    }
  });
});

