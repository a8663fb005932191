/**
 * The flooding client of `bench:detect`, in its own process so that its 20,000 sends do not hold
 * up the event loop that times the other streams' replies. Connects, says `open`, waits for a
 * line on stdin, sends the frames at once, and prints `answered <n>` once every one is answered.
 * Usage: tsx bench/flood_client.ts <ws url> <frames>
 */
import WebSocket from 'ws';

const [url, count] = process.argv.slice(2);
const frames = Number(count);
const ws = new WebSocket(url!);
let answered = 0;
ws.on('message', () => {
  if (++answered === frames) {
    process.stdout.write(`answered ${answered}\n`);
    ws.close();
  }
});
ws.on('close', () => process.exit(0));
ws.once('open', () => {
  process.stdout.write('open\n');
  process.stdin.once('data', () => {
    const tiny = Buffer.alloc(2);
    for (let i = 0; i < frames; i++) ws.send(tiny);
  });
});
