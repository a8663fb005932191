import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** What a line on stdin may ask for while audio comes from elsewhere (a microphone, a file). */
export type StdinCommand = 'mute' | 'unmute';

const COMMANDS: readonly StdinCommand[] = ['mute', 'unmute'];

/** Longest line shown back when it is not a command (readline itself holds a line until its newline: stdin is the local user's). */
const MAX_LINE = 64;

/**
 * Push-to-talk from a script or a Stream Deck: one command a line (`mute`, `unmute`; case and
 * surrounding blanks ignored, blank lines skipped). Anything else is passed to `unknown` and
 * changes nothing. Returns a function that stops reading.
 */
export function readStdinCommands(input: Readable, on: (command: StdinCommand) => void, unknown: (line: string) => void): () => void {
  const lines = createInterface({ input, crlfDelay: Infinity });
  lines.on('line', (raw) => {
    const line = raw.trim().toLowerCase();
    if (!line) return;
    if ((COMMANDS as readonly string[]).includes(line)) on(line as StdinCommand);
    else unknown(line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}...` : line);
  });
  return () => lines.close();
}
