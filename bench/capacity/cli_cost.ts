/**
 * What one stream costs as its own CLI process (`vtuber-stt-client --input conversation.wav`, real
 * time), against the same stream inside one process: N CLI processes on the stack's cores charge
 * their start-up (tsx compiling the client) and their own CPU to the engine. The child reports its
 * CPU time itself at exit (a preloaded hook: process.cpuUsage covers every thread of the process).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeWav, SAMPLE_RATE } from '@vtuber-stt/core';
import type { Conversation } from '../felt/conversation.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = 'client/audio_streaming_input/bin/vtuber-stt-client.mjs';
const REPORT = 'data:text/javascript,process.on("exit",()=>process.stderr.write("\\ncapacity-bench-cpu "+JSON.stringify({...process.cpuUsage(),rss_kib:process.resourceUsage().maxRSS})+"\\n"))';

export interface ProcessCost {
  wall_ms: number;
  cpu_ms: number;
  max_rss_mib: number;
  /** JSON lines the client printed (utterances). */
  lines: number;
}

async function run(args: string[]): Promise<ProcessCost> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', REPORT, BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const m = /capacity-bench-cpu (\{.*\})/.exec(err);
  if (code !== 0 || !m) throw new Error(`vtuber-stt-client ${args.join(' ')} exited ${code}:\n${err}`);
  const usage = JSON.parse(m[1]!) as { user: number; system: number; rss_kib: number };
  return {
    wall_ms: Math.round(performance.now() - started),
    cpu_ms: Math.round((usage.user + usage.system) / 1000),
    max_rss_mib: Math.round(usage.rss_kib / 1024),
    lines: out.split('\n').filter((l) => l.startsWith('{')).length,
  };
}

export interface CliCost {
  /** `--help`: loading the client, nothing streamed. */
  startup: ProcessCost;
  /** The whole conversation streamed in real time to the stack, as a streamer would run it. */
  stream: ProcessCost;
  audio_s: number;
  /** CPU ms per second of audio past start-up: what each CLI stream keeps charging. */
  cpu_ms_per_audio_s: number;
}

export async function measureCliCost(port: number, conv: Conversation): Promise<CliCost> {
  const dir = mkdtempSync(join(tmpdir(), 'capacity-cli-'));
  try {
    const wav = join(dir, 'conversation.wav');
    writeFileSync(wav, encodeWav(conv.samples, SAMPLE_RATE));
    const startup = await run(['--help']);
    const stream = await run(['--server', `ws://127.0.0.1:${port}`, '--input', wav, '--early']);
    const audio = conv.samples.length / SAMPLE_RATE;
    return { startup, stream, audio_s: Math.round(audio * 10) / 10, cpu_ms_per_audio_s: Math.round(((stream.cpu_ms - startup.cpu_ms) / audio) * 10) / 10 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
