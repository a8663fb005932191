/**
 * The echo conversation through a real transcription service over WebSocket, as a VTuber's
 * client would send it: server turns, `assistant_policy` barge_in, `assistant_speech` start/end
 * around each line, and the line's audio as `assistant_audio` (the reference) just ahead of each
 * 20 ms microphone chunk, on one socket so both arrive in order. The engine is the synthetic
 * model (real compute, fixed words): what counts is which audio became a transcript.
 */
import WebSocket from 'ws';
import { SAMPLE_RATE } from '@vtuber-stt/core';
import { startTestService } from '../../test/helpers/service.js';
import type { EchoConversation } from './conversation.js';
import { percentile } from './analysis.js';

const CHUNK = 320;
/** After the last message, this long without another means the service has said everything. */
const QUIET_MS = 4000;

export interface ServiceResult {
  finals: { seq: number; start_ms: number; end_ms: number; dropped?: string }[];
  interruptions: { seq: number; at_ms: number; start_ms: number }[];
  /** Finals (not dropped) that overlap no streamer turn: the VTuber's echo transcribed. */
  echo_transcripts: number;
  missed: number;
  /** interruption at_ms minus the detected start of that speech, and minus the streamer's true onset. */
  interruption_after_start_p50_ms: number | null;
  interruption_after_start_p90_ms: number | null;
  interruption_after_onset_p50_ms: number | null;
  interruption_after_onset_p90_ms: number | null;
  barge_ins_interrupted: number;
  errors: string[];
}

const s16 = (pcm: Float32Array) => {
  const out = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(pcm[i]! * 32767))), i * 2);
  return out;
};

export async function runThroughService(conv: EchoConversation, speed: number, log: (line: string) => void): Promise<ServiceResult> {
  const service = await startTestService();
  const messages: Record<string, unknown>[] = [];
  let last = Date.now();
  try {
    const ws = new WebSocket(service.ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('message', (data) => {
      messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
      last = Date.now();
    });
    ws.send(JSON.stringify({ type: 'config', turns: 'server', assistant_policy: 'barge_in' }));
    const fed = conv.playbacks.map(() => 0);
    const started = performance.now();
    for (let pos = 0; pos < conv.mic.length; pos += CHUNK) {
      const end = Math.min(conv.mic.length, pos + CHUNK);
      conv.playbacks.forEach((p, i) => {
        const upto = Math.min(p.pcm.length, end - p.start);
        if (upto <= fed[i]!) return;
        if (fed[i] === 0) ws.send(JSON.stringify({ type: 'assistant_speech', state: 'start', text: conv.lines[i]!.text }));
        ws.send(JSON.stringify({ type: 'assistant_audio', sample_rate: SAMPLE_RATE, audio: s16(p.pcm.subarray(fed[i]!, upto)).toString('base64') }));
        fed[i] = upto;
        if (upto === p.pcm.length) ws.send(JSON.stringify({ type: 'assistant_speech', state: 'end' }));
      });
      ws.send(s16(conv.mic.subarray(pos, end)));
      // Paced at `speed` x real time: the service's turns run on the audio clock either way.
      const ahead = (end / SAMPLE_RATE) * 1000 / speed - (performance.now() - started);
      if (ahead > 5) await new Promise((r) => setTimeout(r, ahead));
    }
    last = Date.now();
    while (Date.now() - last < QUIET_MS) await new Promise((r) => setTimeout(r, 200));
    ws.close();
  } finally {
    await service.close();
  }
  const errors = messages.filter((m) => m.type === 'error').map((m) => `${String(m.code)}: ${String(m.error)}`);
  for (const e of errors) log(`service error: ${e}`);
  const finals = messages
    .filter((m) => m.type === 'transcript' && m.final !== false)
    .map((m) => ({ seq: m.seq as number, start_ms: m.start_ms as number, end_ms: m.end_ms as number, ...(m.dropped ? { dropped: String(m.dropped) } : {}) }));
  const starts = new Map(messages.filter((m) => m.type === 'speech_start').map((m) => [m.seq as number, m.start_ms as number]));
  const interruptions = messages.filter((m) => m.type === 'interruption').map((m) => ({ seq: m.seq as number, at_ms: m.at_ms as number, start_ms: m.start_ms as number }));
  const overlaps = (a: { start_ms: number; end_ms: number }, b: { start_ms: number; end_ms: number }) => a.start_ms < b.end_ms && b.start_ms < a.end_ms;
  const kept = finals.filter((f) => !f.dropped);
  const afterStart: number[] = [];
  const afterOnset: number[] = [];
  let interrupted = 0;
  for (const t of conv.turns.filter((t) => t.barge_in)) {
    const i = interruptions.find((x) => x.start_ms >= t.start_ms - 200 && x.start_ms < t.end_ms);
    if (!i) continue;
    interrupted++;
    afterStart.push(Math.round(i.at_ms - (starts.get(i.seq) ?? i.start_ms)));
    afterOnset.push(Math.round(i.at_ms - t.start_ms));
  }
  return {
    finals,
    interruptions,
    echo_transcripts: kept.filter((f) => !conv.turns.some((t) => overlaps(f, t))).length,
    missed: conv.turns.filter((t) => !kept.some((f) => overlaps(f, t))).length,
    interruption_after_start_p50_ms: percentile(afterStart, 50),
    interruption_after_start_p90_ms: percentile(afterStart, 90),
    interruption_after_onset_p50_ms: percentile(afterOnset, 50),
    interruption_after_onset_p90_ms: percentile(afterOnset, 90),
    barge_ins_interrupted: interrupted,
    errors,
  };
}
