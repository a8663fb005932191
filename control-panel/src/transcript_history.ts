/** One committed line of a session, as the panel keeps it. */
export interface HistoryEntry {
  seq: number;
  /** When the final arrived (wall clock). */
  at: Date;
  text: string;
  language?: string;
  /** Where the speech lies for subtitles: ms on the session's timeline (see TranscriptHistory). */
  startMs: number;
  endMs: number;
  /** Estimated wait from the end of speech to the final, in ms, when it could be estimated. */
  waitMs?: number;
}

/** What a final says about itself, on its speaker's audio timeline. */
export interface FinalLine {
  seq: number;
  text: string;
  language?: string;
  start_ms?: number;
  end_ms?: number;
  audio_ms?: number;
}

/** Most lines kept: a long stream's worth; the oldest go first. */
const MAX_ENTRIES = 5000;

/**
 * A session's transcript as the panel shows and exports it. Subtitle times are the speaker's
 * audio timeline (0 = when its microphone connection opened); when a new connection starts the
 * timeline again, its lines continue after the last one, so an SRT file always runs forward.
 */
export class TranscriptHistory {
  readonly entries: HistoryEntry[] = [];
  /** Added to the current connection's times; where the previous connections' lines ended. */
  private offset = 0;
  private lastRawStart = -1;
  private epoch?: number;

  /** A new speaking connection: its timeline starts at 0 again. */
  newTimeline(): void {
    this.offset = this.entries.at(-1)?.endMs ?? this.offset;
    this.lastRawStart = -1;
  }

  add(final: FinalLine, at: Date, waitMs?: number): HistoryEntry {
    this.epoch ??= at.getTime();
    // Without times (a <flush> session), the wall clock since the first line stands in.
    const endRaw = final.end_ms ?? at.getTime() - this.epoch;
    const startRaw = final.start_ms ?? Math.max(0, endRaw - (final.audio_ms ?? 0));
    if (startRaw < this.lastRawStart) this.newTimeline();
    this.lastRawStart = startRaw;
    const entry: HistoryEntry = { seq: final.seq, at, text: final.text, language: final.language, startMs: startRaw + this.offset, endMs: endRaw + this.offset, waitMs };
    this.entries.push(entry);
    if (this.entries.length > MAX_ENTRIES) this.entries.shift();
    return entry;
  }

  clear(): void {
    this.entries.length = 0;
  }
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** 12:03:04, local time. */
export function clockTime(d: Date): string {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** 01:02:03,456 (SRT's form). */
export function srtTime(ms: number): string {
  const v = Math.max(0, Math.round(ms));
  return `${pad(Math.floor(v / 3600000))}:${pad(Math.floor(v / 60000) % 60)}:${pad(Math.floor(v / 1000) % 60)},${pad(v % 1000, 3)}`;
}

/** One line per final: `[12:03:04] text`. */
export function toText(entries: readonly HistoryEntry[]): string {
  return entries.map((e) => `[${clockTime(e.at)}] ${e.text}\n`).join('');
}

/** SubRip subtitles, numbered from 1, on the session's timeline. */
export function toSrt(entries: readonly HistoryEntry[]): string {
  return entries.map((e, i) => `${i + 1}\n${srtTime(e.startMs)} --> ${srtTime(Math.max(e.endMs, e.startMs + 1))}\n${e.text}\n`).join('\n');
}
