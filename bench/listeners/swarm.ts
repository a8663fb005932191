/**
 * The listeners of `bench:listeners`, in their own process so that reading 50 sockets does not
 * share an event loop with the speaker whose latency is timed. Opens <count> listeners on
 * <url> (`/ws/events?session=...`), prints `open` once each has had its first `session` message,
 * and on a line on stdin prints one JSON line, what they received, and exits:
 * `{"messages":n,"closed":[...],"finals":{"<seq>":[epoch ms, ...]}}`.
 * Usage: tsx bench/listeners/swarm.ts <ws url> <count>
 */
import WebSocket from 'ws';

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (!url || !Number.isInteger(count) || count < 1) {
  console.error('usage: tsx bench/listeners/swarm.ts <ws url> <count>');
  process.exit(2);
}

const now = () => performance.timeOrigin + performance.now();
let messages = 0;
let opened = 0;
const closed: { code: number; reason: string }[] = [];
/** When each listener received each final, by seq (epoch ms, so the speaker's process can compare). */
const finals: Record<string, number[]> = {};
const sockets: WebSocket[] = [];

for (let i = 0; i < count; i++) {
  const ws = new WebSocket(url);
  sockets.push(ws);
  let first = true;
  ws.on('message', (data) => {
    const at = now();
    messages++;
    const m = JSON.parse(data.toString()) as { type?: string; final?: boolean; seq?: number };
    if (first && m.type === 'session') {
      first = false;
      if (++opened === count) process.stdout.write('open\n');
    }
    if (m.type === 'transcript' && m.final !== false && typeof m.seq === 'number') (finals[m.seq] ??= []).push(at);
  });
  ws.on('close', (code, reason) => closed.push({ code, reason: reason.toString() }));
  ws.on('error', (error) => console.error(`listener ${i}: ${error.message}`));
}

process.stdin.once('data', () => {
  process.stdout.write(`${JSON.stringify({ messages, closed, finals })}\n`);
  for (const ws of sockets) ws.close(1000, 'bench over');
  setTimeout(() => process.exit(0), 200);
});
