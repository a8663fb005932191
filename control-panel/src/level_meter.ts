import { t } from './i18n.js';

/** The meter's floor: quieter than this shows as nothing. */
const FLOOR_DB = -60;

/** Peak of a chunk in dBFS (0 is full scale; a digital silence is -Infinity). */
export function peakDb(chunk: Float32Array): number {
  let peak = 0;
  for (const s of chunk) peak = Math.max(peak, Math.abs(s));
  return 20 * Math.log10(peak);
}

/**
 * The microphone's input level, as a mic test needs it: the bar moves with the voice (falling
 * back slowly, as a VU meter does), and the loudest peak since the start says whether the gain
 * is too low or clipping. `data-db` and `data-peak-db` carry the figures.
 */
export class LevelMeter {
  private shown = FLOOR_DB;
  private peak = -Infinity;

  constructor(
    private readonly bar: HTMLElement,
    private readonly peakLabel: HTMLElement,
  ) {}

  reset(): void {
    this.shown = FLOOR_DB;
    this.peak = -Infinity;
    this.render();
  }

  push(chunk: Float32Array): void {
    const db = Math.max(FLOOR_DB, peakDb(chunk));
    // Rises at once, falls about 20 dB a second (chunks come ~30 times a second).
    this.shown = db >= this.shown ? db : Math.max(db, this.shown - 0.7);
    this.peak = Math.max(this.peak, db);
    this.render();
  }

  private render(): void {
    this.bar.style.width = `${Math.round(((this.shown - FLOOR_DB) / -FLOOR_DB) * 100)}%`;
    this.bar.dataset.db = String(Math.round(this.shown));
    const peak = Number.isFinite(this.peak) ? Math.round(this.peak) : undefined;
    if (peak === undefined) delete this.bar.dataset.peakDb;
    else this.bar.dataset.peakDb = String(peak);
    this.peakLabel.textContent = peak === undefined ? '' : t('peak', peak);
  }
}
