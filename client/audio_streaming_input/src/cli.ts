import type { Readable, Writable } from 'node:stream';
import { Command, CommanderError, Option } from 'commander';
import pino, { type DestinationStream } from 'pino';
import { configMessageSchema, ConnectTimeout, formatFromQuery, HandshakeRefused, openSocket } from '@vtuber-stt/core/client';
import { CaptureError, findTool, listDevices, type CaptureTool } from './capture.js';
import { fileSource, micSource, stdinSource, type AudioSource, type Pace } from './sources.js';
import { serverTurnsConfig } from './server_turns.js';
import { readStdinCommands } from './stdin_commands.js';
import { UtteranceStreamer, type Utterance } from './streamer.js';

/**
 * What a run of the client talks to: the process's streams and environment when run as a
 * command, or a caller's (the tests run it in-process).
 */
export interface CliIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Where the logs go (the command: stderr, written synchronously so the last line is not lost at exit). */
  log?: DestinationStream;
  env: NodeJS.ProcessEnv;
  /** Calls `stop` on Ctrl-C (the command: SIGINT). */
  onInterrupt(stop: () => void): void;
}

const makeProgram = (io: CliIo) => new Command('vtuber-stt-client')
  .exitOverride()
  .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
  .description('Listens to a microphone (or a file, or stdin), and prints one line per utterance: what was said, as soon as it is transcribed.')
  .option('-s, --server <url>', 'the stack (proxy or nginx) to use', 'ws://127.0.0.1:8080')
  .addOption(new Option('--turns <who>', 'who hears the end of each utterance: the transcription service (one connection) or this client through /ws/detect').choices(['server', 'detect']).default('server'))
  .option('--early', 'also print the speculative text of each utterance as soon as the service has it ("final": false), before its final line')
  .option('--partials', 'server turns: also print live partial text while each utterance runs ({"partial": true, "stable", "text"}; --text: "(partial) ")')
  .option('--turn-events', 'server turns: also print the service\'s turn events as lines ({"type":"turn","event":"start"|"eager_end"|"resumed"|"end",...}; --text: "(turn eager_end) ...")')
  .option('--detect-url <url>', 'speech detection endpoint, --turns detect (default: <server>/ws/detect)')
  .option('--transcribe-url <url>', 'transcription endpoint (default: <server>/ws/transcribe)')
  .option('-i, --input <file>', 'stream a WAV file (any rate) instead of the microphone; "-" reads raw PCM from stdin')
  .option('--stdin-format <query>', 'format of raw PCM on stdin, as a query string', 'sample_rate=16000&encoding=s16le&channels=1')
  .option('--realtime', 'play --input at real-time speed (the default)')
  .option('--fast', 'play --input as fast as possible')
  .option('--speed <x>', 'play --input at x times real time', parseFloat)
  .option('-d, --device <name>', 'input device (see --list-devices)')
  .option('--list-devices', 'list input devices and exit')
  .addOption(new Option('--capture <tool>', 'capture tool').choices(['auto', 'arecord', 'ffmpeg', 'sox']).default('auto'))
  .option('-l, --language <code>', 'language (auto, ko, en, ...); default: the server\'s')
  .option('-p, --prompt <text>', 'initial prompt: names to spell right')
  .option('--pre-roll-ms <ms>', 'audio kept before the detected start', (v) => Number(v), 300)
  .option('--hangover-ms <ms>', 'end an utterance after this much silence (0: the service or the detector decides)', (v) => Number(v), 0)
  .option('--max-utterance-s <s>', 'end an utterance this long even without a pause', (v) => Number(v), 30)
  .option('--max-buffer-s <s>', 'audio held for re-sending while a server is away', (v) => Number(v), 300)
  .option('--api-key <key>', 'the stack\'s API key, when it asks for one (env STT_API_KEY)')
  .option('-t, --text', 'print plain text lines instead of JSON')
  .option('-v, --verbose', 'more logging on stderr')
  .addHelpText(
    'after',
    `
Output: one JSON line per utterance on stdout, {"text","language","start_ms","end_ms","latency_ms","seq","final"}
(or the text alone with --text); logs go to stderr. With --early the speculative text comes first,
as "final": false (--text: "(early) " before it); the line with "final": true and the same seq
replaces it. Ctrl-C finishes the utterance in progress, waits for its text, and exits.
While audio comes from the microphone or a file (not "--input -"), the lines "mute" and "unmute"
on stdin mute and unmute the session (push-to-talk from a script or a Stream Deck): the service
discards the audio meanwhile and ends the utterance in progress.

Examples:
  vtuber-stt-client --server ws://127.0.0.1:8080 --text
  vtuber-stt-client --early --language ko
  vtuber-stt-client --turns detect --hangover-ms 600
  vtuber-stt-client --input speech.wav --fast
  vtuber-stt-client --turn-events --text      (then type "mute" or "unmute" and Enter)
  arecord -f S16_LE -r 16000 -c 1 -t raw | vtuber-stt-client --input -`,
  );

/** The option behind each config field the client sends in server mode (the field is in ms). */
const OPTION_OF: Record<string, string> = {
  pre_roll_ms: '--pre-roll-ms',
  max_utterance_ms: '--max-utterance-s (in ms)',
  end_of_turn_ms: '--hangover-ms',
  sentence_end_ms: '--hangover-ms',
  language: '--language',
  prompt: '--prompt',
};

function wsBase(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CaptureError(`--server must be a URL such as ws://127.0.0.1:8080 (got "${value}")`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new CaptureError(`--server must be ws://, wss://, http:// or https:// (got "${value}")`);
  return url.toString().replace(/\/+$/, '');
}

/** The key rides in the handshake's query string, which the stack accepts on WebSockets only. */
function withKey(url: string, key: string | undefined): string {
  if (!key) return url;
  const u = new URL(url);
  u.searchParams.set('api_key', key);
  return u.toString();
}

/** The first connection must work: a wrong address is a message and an exit, not endless retries. */
async function reachable(url: string): Promise<void> {
  const quiet = () => undefined;
  try {
    await openSocket(url, { open: (ws) => ws.close(), message: quiet, close: quiet }, { timeoutMs: 5000 });
  } catch (error) {
    if (error instanceof ConnectTimeout) throw new CaptureError(`cannot reach ${url}: no answer within 5 s`);
    // A refusal (a missing or wrong key, 401) says why in its body.
    if (error instanceof HandshakeRefused) {
      const why = error.reason ? `: ${error.reason}` : " (is this the stack's address?)";
      throw new CaptureError(`cannot use ${url.replace(/api_key=[^&]*/, 'api_key=...')}: the server answered HTTP ${error.status}${why}`);
    }
    throw new CaptureError(`cannot reach ${url}: ${(error as Error).message}`);
  }
}

/** One run of the client, as `vtuber-stt-client <argv>` would: resolves with its exit status. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    await run(argv, io);
    return 0;
  } catch (error) {
    // --help and --version end the run as commander does, with its status; its errors are printed by it.
    if (error instanceof CommanderError) return error.exitCode;
    io.stderr.write(`vtuber-stt-client: ${(error as Error).message}\n`);
    return 1;
  }
}

async function run(argv: string[], io: CliIo): Promise<void> {
  const program = makeProgram(io);
  program.parse(argv, { from: 'user' });
  const o = program.opts<Record<string, unknown>>();
  const apiKey = (o.apiKey as string | undefined) ?? (io.env.STT_API_KEY || undefined);
  const log = pino({ name: 'client', level: o.verbose ? 'debug' : 'info' }, io.log ?? io.stderr);

  if (o.listDevices) {
    const tool = findTool(o.capture as CaptureTool | 'auto', io.env);
    io.stdout.write(`${listDevices(tool)}\n`);
    return;
  }
  const base = wsBase(o.server as string);
  const detectUrl = withKey((o.detectUrl as string | undefined) ?? `${base}/ws/detect`, apiKey);
  const transcribeUrl = withKey((o.transcribeUrl as string | undefined) ?? `${base}/ws/transcribe`, apiKey);
  const pace: Pace = o.fast ? 'fast' : ((o.speed as number | undefined) ?? 1);
  if (pace !== 'fast' && !(pace > 0)) throw new CaptureError('--speed must be a positive number');

  const controller = new AbortController();
  let source: AudioSource;
  const input = o.input as string | undefined;
  if (input === '-') source = stdinSource(io.stdin, formatFromQuery(Object.fromEntries(new URLSearchParams(o.stdinFormat as string))));
  else if (input) source = await fileSource(input, pace, controller.signal);
  else {
    const tool = findTool(o.capture as CaptureTool | 'auto', io.env);
    log.info(`capturing from ${o.device ?? 'the default device'} with ${tool}`);
    source = micSource(tool, o.device as string | undefined, controller.signal, io.env);
  }

  const turns = o.turns as 'server' | 'detect';
  const settings = {
    preRollMs: o.preRollMs as number,
    hangoverMs: o.hangoverMs as number,
    maxUtteranceMs: (o.maxUtteranceS as number) * 1000,
    language: o.language as string | undefined,
    prompt: o.prompt as string | undefined,
    partials: Boolean(o.partials),
    turnEvents: Boolean(o.turnEvents),
  };
  if (settings.partials && turns !== 'server') throw new CaptureError('--partials needs --turns server: the service re-decodes the utterances it hears');
  if (settings.turnEvents && turns !== 'server') throw new CaptureError('--turn-events needs --turns server: the service hears the turns');
  if (turns === 'server') {
    // The service would refuse the whole config message; say which option is wrong instead.
    const checked = configMessageSchema.safeParse(serverTurnsConfig(settings));
    if (!checked.success) {
      const problems = checked.error.issues.map((i) => `${OPTION_OF[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`);
      throw new CaptureError(`invalid settings for server-side turns: ${problems.join('; ')}`);
    }
  }
  await Promise.all(turns === 'server' ? [reachable(transcribeUrl)] : [reachable(detectUrl), reachable(transcribeUrl)]);
  const print = (u: Utterance) => {
    const line = o.text
      ? `${u.final ? '' : '(early) '}${u.text}`
      : JSON.stringify({ text: u.text, language: u.language, start_ms: u.start_ms, end_ms: u.end_ms, latency_ms: u.latency_ms, seq: u.seq, final: u.final });
    io.stdout.write(`${line}\n`);
  };
  const streamer = new UtteranceStreamer({
    detectUrl,
    transcribeUrl,
    turns,
    early: Boolean(o.early),
    ...settings,
    maxBufferBytes: Math.round((o.maxBufferS as number) * 16000 * 2),
    log,
    onUtterance: print,
    onPartial: (p) => io.stdout.write(`${o.text ? `(partial) ${p.text}` : JSON.stringify({ ...p, partial: true })}\n`),
    onServerMessage: (m) => {
      if (m.type === 'turn' && settings.turnEvents) io.stdout.write(`${o.text ? `(turn ${String(m.event)})${m.text ? ` ${String(m.text)}` : ''}` : JSON.stringify(m)}\n`);
      else if (m.type === 'mute') log.info(m.muted ? 'muted' : 'unmuted');
    },
  });
  let interrupted = false;
  io.onInterrupt(() => {
    interrupted = true;
    log.info('stopping: finishing the utterance in progress');
    controller.abort();
  });
  let stopCommands: (() => void) | undefined;
  try {
    await streamer.ready();
    log.info(turns === 'server' ? `listening: server-side turns on ${transcribeUrl}` : `listening: detection ${detectUrl}, transcription ${transcribeUrl}`);
    // stdin is free unless it carries the audio: push-to-talk commands, one a line.
    stopCommands =
      input === '-' ? undefined : readStdinCommands(io.stdin, (command) => streamer.mute(command === 'mute'), (line) => log.warn(`stdin: unknown command "${line}" (mute or unmute)`));
    for await (const chunk of source) {
      if (interrupted) break;
      await streamer.push(chunk);
    }
    stopCommands?.();
    stopCommands = undefined;
    await streamer.finish();
  } finally {
    // On a failure too: the microphone process and stdin are let go (an in-process caller lives on).
    stopCommands?.();
    controller.abort();
  }
}
