/**
 * Latency against streams as a hand-written SVG: final p50/p90/max and early-text p90 after the
 * true end of speech, a log time axis (a knee spans two decades), the 1 s target, the capacity.
 */
export interface ChartPoint {
  n: number;
  final_p50_ms: number | null;
  final_p90_ms: number | null;
  final_max_ms: number | null;
  early_p90_ms: number | null;
}

const W = 720;
const H = 420;
const M = { left: 64, right: 170, top: 40, bottom: 48 };
const SERIES: { key: keyof Omit<ChartPoint, 'n'>; label: string; color: string; dash?: string }[] = [
  { key: 'final_p50_ms', label: 'final p50', color: '#1f77b4' },
  { key: 'final_p90_ms', label: 'final p90', color: '#d62728' },
  { key: 'final_max_ms', label: 'final max', color: '#7f7f7f', dash: '4 3' },
  { key: 'early_p90_ms', label: 'early text p90', color: '#2ca02c' },
];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function latencyChart(points: ChartPoint[], options: { title: string; capacity: number | null; targetMs: number }): string {
  const values = points.flatMap((p) => SERIES.map((s) => p[s.key]).filter((v): v is number => v !== null && v > 0));
  const lo = 0.1;
  const hiS = Math.max(options.targetMs / 1000, ...values.map((v) => v / 1000));
  // Headroom above the highest point and the target line, so neither sits on the frame.
  const hi = [2, 5, 10, 30, 100, 300, 1000].find((d) => d >= hiS * 1.5) ?? Math.ceil(hiS * 1.5);
  const maxN = Math.max(...points.map((p) => p.n), 1);
  const x = (n: number) => M.left + (n / maxN) * (W - M.left - M.right);
  const y = (ms: number) => {
    const s = Math.min(hi, Math.max(lo, ms / 1000));
    return M.top + (1 - Math.log10(s / lo) / Math.log10(hi / lo)) * (H - M.top - M.bottom);
  };
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="14" font-weight="bold">${esc(options.title)}</text>`,
  ];
  // Axes and grid: seconds on a log scale, streams on a linear one.
  const ticks = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].filter((t) => t >= lo && t <= hi);
  for (const t of ticks) {
    const ty = y(t * 1000).toFixed(1);
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${ty}" y2="${ty}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle">${t} s</text>`);
  }
  for (const p of points) {
    const tx = x(p.n).toFixed(1);
    out.push(`<line x1="${tx}" x2="${tx}" y1="${M.top}" y2="${H - M.bottom}" stroke="#f4f4f4"/>`);
    out.push(`<text x="${tx}" y="${H - M.bottom + 16}" text-anchor="middle">${p.n}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#333"/>`);
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#333"/>`);
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 10}" text-anchor="middle">streams (N)</text>`);
  out.push(`<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">latency after the true end of speech</text>`);
  // The target and the capacity.
  const target = y(options.targetMs).toFixed(1);
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${target}" y2="${target}" stroke="#d62728" stroke-dasharray="6 4" opacity="0.6"/>`);
  out.push(`<text x="${W - M.right - 4}" y="${Number(target) - 5}" text-anchor="end" fill="#d62728">final p90 target ${options.targetMs / 1000} s</text>`);
  if (options.capacity !== null) {
    const cx = x(options.capacity).toFixed(1);
    out.push(`<line x1="${cx}" x2="${cx}" y1="${M.top}" y2="${H - M.bottom}" stroke="#333" stroke-dasharray="2 3"/>`);
    const right = Number(cx) > (M.left + W - M.right) / 2;
    out.push(`<text x="${Number(cx) + (right ? -4 : 4)}" y="${M.top + 12}"${right ? ' text-anchor="end"' : ''}>capacity ${options.capacity}</text>`);
  }
  for (const s of SERIES) {
    const pts = points.filter((p) => p[s.key] !== null).map((p) => [x(p.n), y(p[s.key]!)] as const);
    if (pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`);
    }
    for (const [a, b] of pts) out.push(`<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${s.color}"/>`);
  }
  SERIES.forEach((s, i) => {
    const ly = M.top + 10 + i * 20;
    const lx = W - M.right + 16;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    out.push(`<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${s.label}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
