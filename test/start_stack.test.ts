import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALLOCATOR_ENV, encodeS16le, ResilientTranscriber } from '@vtuber-stt/core';
import { freePort } from '../scripts/ports.js';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { httpsRequest, makeTestCertificate } from './helpers/https.js';
import { buildRecording, streamPaced } from './helpers/recording.js';
import { TEST_MODEL } from './helpers/service.js';
import { syntheticModel, syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';
import { isAlive, until } from './helpers/wait.js';

type Message = { type: string; seq?: number; final?: boolean; text?: string; code?: string; backend?: string };

const WORDS = syntheticText(fixtureModel('base'), 20);
const recording = buildRecording(['speechbrain/spk1_snt1.wav', 'speechbrain/spk1_snt2.wav', 'picovoice-leopard/test_ko.wav'], 1500);
const TURNS = JSON.stringify({ type: 'config', end_of_turn_ms: 1000, sentence_end_ms: 1000 });
const isFinal = (m: Message) => (m.type === 'transcript' && m.final !== false) || (m.type === 'error' && m.seq !== undefined);

/** `npm start` without the panel build (prestart): scripts/start.ts as a real process, its output kept. */
interface Stack {
  port: number;
  child: ChildProcess;
  output: () => string;
  /** The current pid of a member, from the supervisor's `<name> pid N` lines. */
  pid(name: string): number;
  /** Every pid a member ever had. */
  pids(name: string): number[];
  /** The backend port the stack chose for stt_cpu_ws. */
  cpuPort(): number;
  exited: Promise<number | null>;
}

async function startStack(extraEnv: NodeJS.ProcessEnv = {}): Promise<Stack> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...extraEnv,
    PORT: String(port),
    STT_MODEL: TEST_MODEL(),
    STT_TINY_MODEL: syntheticModel(fixtureModel('tiny'), 20, { layers: 1 }),
    STT_PROXY_STATE: join(mkdtempSync(join(tmpdir(), 'stack-state-')), 'state.json'),
    STT_PROXY_POLL_MS: '500',
  };
  // The default under test: backend ports picked free, not taken from the environment.
  delete env.STT_CPU_PORT;
  delete env.STT_GPU_PORT;
  delete env.HOST;
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const pids = (name: string) => [...out.matchAll(new RegExp(`^${name} pid (\\d+)`, 'gm'))].map((m) => Number(m[1]));
  const stack: Stack = {
    port,
    child,
    output: () => out,
    pids,
    pid: (name) => pids(name).at(-1)!,
    cpuPort: () => Number(/stt_cpu_ws on port (\d+)/.exec(out)![1]),
    exited,
  };
  await until(() => /stt_proxy ready/.test(out) && new RegExp(`ready on ws://127\\.0\\.0\\.1:${/stt_cpu_ws on port (\d+)/.exec(out)?.[1]}/ws/transcribe`).test(out), 60_000, () => out.slice(-3000));
  return stack;
}

/** Ctrl-C as a user sends it to `npm start`: SIGINT to the stack's process alone (its members are told by it). */
async function interrupt(stack: Stack): Promise<number | null> {
  stack.child.kill('SIGINT');
  return stack.exited;
}

// One stack through its life, in order even under --sequence.shuffle: restarts, a second one beside it, Ctrl-C last.
describe('npm start (scripts/start.ts)', { shuffle: false }, () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  }, 90_000);
  afterAll(async () => {
    if (stack && stack.child.exitCode === null) await interrupt(stack);
  });

  it('starts every service with the allocator settings (ALLOCATOR_ENV) and the proxy and the engine with one relay secret', () => {
    const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const [engine, proxy] = [environ(stack.pid('stt_cpu_ws')), environ(stack.pid('stt_proxy'))];
    for (const [name, value] of Object.entries(ALLOCATOR_ENV)) {
      for (const env of [engine, proxy]) expect(env).toContain(`${name}=${process.env[name] ?? value}`);
    }
    const secret = engine.find((v) => v.startsWith('STT_RELAY_SECRET='));
    expect(secret?.length).toBeGreaterThan('STT_RELAY_SECRET='.length + 16);
    expect(proxy).toContain(secret);
  });

  it('restarts stt_cpu_ws killed mid-utterance on its port, and the replay answers every utterance once, in order', async () => {
    const firstPid = stack.pid('stt_cpu_ws');
    const cpuPort = stack.cpuPort();
    const messages: Message[] = [];
    // As the microphone client: engine_unavailable means "send it all again on a fresh connection".
    const transcriber = new ResilientTranscriber({
      turns: 'server',
      next: () => ({ url: `ws://127.0.0.1:${stack.port}/ws/transcribe?turns=server` }),
      maxReplayBytes: 16 * 1024 * 1024,
      retryCodes: ['engine_unavailable'],
      retryDelayMs: 100,
      maxDelayMs: 500,
      onReply: (m) => messages.push(m as Message),
      onMessage: (m) => messages.push(m as Message),
    });
    try {
      transcriber.control(TURNS);
      const second = recording.clips[1]!;
      let killed = false;
      await streamPaced(recording.pcm, (chunk) => transcriber.sendAudio(chunk), {
        chunkMs: 32,
        beforeChunk: async (atMs) => {
          if (killed || atMs < second.startMs + 1000) return;
          // Mid-utterance: the second one's start already heard.
          await until(() => messages.some((m) => m.type === 'speech_start' && m.seq === 2), 10_000);
          killed = true;
          process.kill(firstPid, 'SIGKILL');
        },
      });
      const trail = () => JSON.stringify(messages.map((m) => [m.type, m.seq, m.final, m.code])) + stack.output().slice(-3000);
      await until(() => messages.filter(isFinal).length >= recording.clips.length, 90_000, trail);
      await transcriber.idle();
      const finals = messages.filter(isFinal);
      expect(finals.map((f) => f.seq), trail()).toEqual([1, 2, 3]);
      for (const f of finals) expect(f).toMatchObject({ type: 'transcript', final: true, text: WORDS, backend: 'cpu' });
      expect(messages.filter((m) => m.type === 'speech_start').map((m) => m.seq)).toEqual(expect.arrayContaining([1, 2, 3]));
      expect(transcriber.waiting).toBe(0);
    } finally {
      transcriber.close();
    }
    // The stack said what it did, and the service came back as a new process on the same port.
    expect(stack.output()).toContain('stt_cpu_ws exited (SIGKILL); restarting it in 500 ms');
    const pids = stack.pids('stt_cpu_ws');
    expect(pids).toHaveLength(2);
    expect(pids[0]).toBe(firstPid);
    expect(isAlive(firstPid)).toBe(false);
    expect(isAlive(pids[1]!)).toBe(true);
    expect(stack.output()).toMatch(new RegExp(`stt_cpu_ws pid ${pids[1]} \\(restart 1\\)`));
    expect((stack.output().match(new RegExp(`ready on ws://127\\.0\\.0\\.1:${cpuPort}/ws/transcribe`, 'g')) ?? []).length).toBe(2);
    // The proxy was never touched.
    expect(stack.pids('stt_proxy')).toHaveLength(1);
  }, 150_000);

  it('lets a second stack run beside it: its own backend port picked free, serving on its own (over HTTPS, as STT_TLS_CERT asks)', async () => {
    const tls = makeTestCertificate();
    const other = await startStack({ STT_TLS_CERT: tls.cert, STT_TLS_KEY: tls.key });
    // (Its startup is the slow part of this test: hence the longer timeout below.)
    try {
      expect(other.cpuPort()).not.toBe(stack.cpuPort());
      expect(other.port).not.toBe(stack.port);
      // npm start passed the certificate to the proxy: its public port speaks HTTPS and WSS.
      expect(other.output()).toContain(`control panel https://127.0.0.1:${other.port}/`);
      expect((await httpsRequest(`https://127.0.0.1:${other.port}/health`, tls.ca)).status).toBe(200);
      const c = await TestClient.connect(`wss://127.0.0.1:${other.port}/ws/transcribe`, { ca: tls.ca });
      c.sendAudio(encodeS16le(loadClip('speechbrain/spk1_snt1.wav')));
      c.flush();
      expect(await c.next(30_000)).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, backend: 'cpu' });
      await c.close();
    } finally {
      const members = [other.pid('stt_cpu_ws'), other.pid('stt_proxy')];
      expect(await interrupt(other)).toBe(0);
      for (const pid of members) expect(isAlive(pid)).toBe(false);
    }
    // The first stack did not notice.
    expect(isAlive(stack.pid('stt_cpu_ws'))).toBe(true);
    expect(stack.pids('stt_cpu_ws')).toHaveLength(2);
  }, 120_000);

  it('restarts the proxy too, on the same public address', async () => {
    const [first] = stack.pids('stt_proxy');
    process.kill(first!, 'SIGKILL');
    await until(() => stack.pids('stt_proxy').length === 2 && (stack.output().match(/stt_proxy ready/g) ?? []).length === 2, 60_000, () => stack.output().slice(-3000));
    expect(stack.output()).toContain('stt_proxy exited (SIGKILL); restarting it in 500 ms');
    const status = (await fetch(`http://127.0.0.1:${stack.port}/health`)).status;
    expect(status).toBe(200);
    // A new session through the new proxy reaches the same backend, which was left alone.
    const c = await TestClient.connect(`ws://127.0.0.1:${stack.port}/ws/transcribe`);
    c.sendAudio(encodeS16le(loadClip('speechbrain/spk1_snt1.wav')));
    c.flush();
    expect(await c.next(30_000)).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, backend: 'cpu' });
    await c.close();
    expect(stack.pids('stt_cpu_ws')).toHaveLength(2);
  }, 90_000);

  it('stops every member on Ctrl-C and restarts none, exiting 0', async () => {
    const members = [stack.pid('stt_cpu_ws'), stack.pid('stt_proxy')];
    for (const pid of members) expect(isAlive(pid)).toBe(true);
    expect(await interrupt(stack)).toBe(0);
    for (const pid of members) expect(isAlive(pid)).toBe(false);
    // The two restarts are the ones the kills caused: the members' exits on Ctrl-C were not taken for crashes.
    expect(stack.output().match(/restarting it in/g)).toHaveLength(2);
    expect(stack.pids('stt_cpu_ws')).toHaveLength(2);
    expect(stack.pids('stt_proxy')).toHaveLength(2);
  });
});
