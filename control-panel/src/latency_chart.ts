import { t } from './i18n.js';
import { themeColor } from './theme.js';

/** A round step for the axis: 1, 2 or 5 times a power of ten, about `ticks` of them up to `max`. */
function niceStep(max: number, ticks = 4): number {
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
}

/**
 * The last utterances' waits as bars, newest on the right, on an axis in ms with grid lines and
 * the median marked: drawn at the canvas's on-screen size and the screen's pixel density, in
 * the theme's colours, so it stays sharp and legible in a narrow dock.
 */
export class LatencyChart {
  private readonly values: number[] = [];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly capacity = 30,
  ) {
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  add(ms: number): void {
    this.values.push(ms);
    if (this.values.length > this.capacity) this.values.shift();
    this.draw();
  }

  draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, this.canvas.clientWidth);
    const height = Math.max(1, this.canvas.clientHeight);
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = '11px system-ui, sans-serif';
    const step = niceStep(Math.max(500, ...this.values) * 1.1);
    const top = Math.ceil((Math.max(500, ...this.values) * 1.1) / step) * step;
    const left = 44;
    const plotTop = 8;
    const plotBottom = height - 18;
    const y = (v: number) => plotBottom - (v / top) * (plotBottom - plotTop);
    // Axis: grid lines and their values in ms.
    ctx.strokeStyle = themeColor('--chart-grid');
    ctx.fillStyle = themeColor('--soft');
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let v = 0; v <= top; v += step) {
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y(v)) + 0.5);
      ctx.lineTo(width - 4, Math.round(y(v)) + 0.5);
      ctx.stroke();
      ctx.fillText(v >= 1000 ? `${v / 1000} s` : `${v}`, left - 6, y(v));
    }
    const slot = (width - 4 - left) / this.capacity;
    ctx.fillStyle = themeColor('--accent');
    this.values.forEach((v, i) => {
      const x = left + (this.capacity - this.values.length + i) * slot;
      ctx.fillRect(x + 1, y(v), Math.max(1, slot - 2), plotBottom - y(v));
    });
    if (this.values.length === 0) return;
    // The median, dashed across, and the newest value under the plot.
    const sorted = [...this.values].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    ctx.strokeStyle = themeColor('--warn');
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(left, y(median));
    ctx.lineTo(width - 4, y(median));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = themeColor('--fg');
    ctx.textBaseline = 'bottom';
    ctx.textAlign = 'left';
    ctx.fillText(t('median', Math.round(median)), left + 4, height - 2);
    ctx.textAlign = 'right';
    ctx.fillText(t('ms', Math.round(this.values.at(-1)!)), width - 4, height - 2);
  }
}
