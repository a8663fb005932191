import type { DownloadProgress } from './download.js';

const mib = (n: number) => (n / 1024 / 1024).toFixed(1);

/**
 * A one-line progress bar on a TTY, a line per 10 % otherwise (so CI and Docker logs stay short).
 */
export function progressPrinter(label: string, stream: NodeJS.WriteStream = process.stderr) {
  let lastDecile = -1;
  let lastDraw = 0;
  const started = Date.now();
  return (p: DownloadProgress) => {
    const fraction = p.total ? p.received / p.total : undefined;
    const rate = (p.received - p.resumedFrom) / Math.max(0.001, (Date.now() - started) / 1000);
    if (stream.isTTY) {
      const now = Date.now();
      if (now - lastDraw < 100 && fraction !== 1) return;
      lastDraw = now;
      const width = 30;
      const filled = fraction === undefined ? 0 : Math.round(fraction * width);
      const bar = fraction === undefined ? '' : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% `;
      stream.write(`\r${label} ${bar}${mib(p.received)}${p.total ? `/${mib(p.total)}` : ''} MiB ${mib(rate)} MiB/s   `);
      if (fraction === 1) stream.write('\n');
    } else if (fraction !== undefined) {
      const decile = Math.floor(fraction * 10);
      if (decile > lastDecile) {
        lastDecile = decile;
        stream.write(`${label} ${decile * 10}% (${mib(p.received)}/${mib(p.total!)} MiB)\n`);
      }
    }
  };
}
