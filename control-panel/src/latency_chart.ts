/** The last transcripts' latencies as bars, newest on the right. */
export class LatencyChart {
  private readonly values: number[] = [];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly capacity = 40,
  ) {
    this.draw();
  }

  add(ms: number): void {
    this.values.push(ms);
    if (this.values.length > this.capacity) this.values.shift();
    this.draw();
  }

  private draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    const max = Math.max(500, ...this.values);
    const bar = width / this.capacity;
    ctx.fillStyle = '#5865f2';
    this.values.forEach((v, i) => {
      const h = (v / max) * (height - 16);
      ctx.fillRect(i * bar + 1, height - h, bar - 2, h);
    });
    ctx.fillStyle = '#667';
    ctx.font = '11px sans-serif';
    ctx.fillText(`${Math.round(max)} ms`, 4, 12);
  }
}
