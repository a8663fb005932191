/** The felt-latency results as a markdown table and a JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Summary, TurnRow } from './analysis.js';

const cell = (v: number | string | boolean | null) => (v === null ? '-' : String(v));
const verdict = (ok: boolean | null) => (ok === null ? 'n/a' : ok ? 'PASS' : 'FAIL');

export function markdown(title: string, rows: TurnRow[], s: Summary): string {
  const lines = [
    `### ${title}`,
    '',
    '| # | turn | lang | speech ms | felt ms | end detected ms | end wait ms | queue ms | decode ms | floor ms (same input) | decode/floor | speculative | eager end ms | turn end ms | resumed | ended by | status |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      [
        r.turn,
        r.id + (r.pause_ms ? ` (pause ${r.pause_ms} ms)` : ''),
        r.language,
        r.speech_ms,
        r.felt_ms === null ? '-' : `${r.felt_ms}${r.felt_from_early ? ' (early)' : ''}`,
        cell(r.eos_delay_ms),
        cell(r.end_wait_ms),
        cell(r.queue_ms),
        cell(r.inference_ms),
        r.floor_ms,
        cell(r.decode_over_floor),
        cell(r.speculative),
        cell(r.eager_end_ms),
        cell(r.turn_end_ms),
        r.resumed,
        cell(r.ended_by),
        r.status + (r.status === 'split' ? ` (seq ${r.seqs.join(', ')})` : '') + (r.dropped ? ` (${r.dropped})` : ''),
      ]
        .map((c) => ` ${c} `)
        .join('|')
        .replace(/^/, '|')
        .replace(/$/, '|'),
    ),
    '',
    `- felt: **p50 ${cell(s.felt_p50_ms)} ms** (target ≤ 450: ${verdict(s.targets.p50_le_450)}), ` +
      `**p90 ${cell(s.felt_p90_ms)} ms** (target ≤ 700: ${verdict(s.targets.p90_le_700)}), max ${cell(s.felt_max_ms)} ms; ` +
      `${s.with_text}/${s.turns} turns with text`,
    `- floor p50 ${s.floor_p50_ms} ms; felt p50 − floor p50 = **${cell(s.felt_p50_minus_floor_p50_ms)} ms** (target ≤ 200: ${verdict(s.targets.p50_within_200_of_floor)})`,
    `- splits ${s.splits}, merges ${s.merges}, missed ${s.missed}, extra finals ${s.extra_finals}; ` +
      `speculative hits ${s.speculative_hits}, felt from early text ${s.felt_from_early}; decode/floor geometric mean ${cell(s.decode_over_floor_geomean)}`,
    `- turn events: eager end p50 ${cell(s.eager_end_p50_ms)} ms, p90 ${cell(s.eager_end_p90_ms)} ms; end p50 ${cell(s.turn_end_p50_ms)} ms, p90 ${cell(s.turn_end_p90_ms)} ms; ` +
      `resumed ${s.resumed} (eager ends thrown away)`,
  ];
  return lines.join('\n');
}

export function writeResults(dir: string, label: string, json: unknown, md: string): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const paths = { json: join(dir, `felt-${label}.json`), md: join(dir, `felt-${label}.md`) };
  writeFileSync(paths.json, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(paths.md, `${md}\n`);
  return paths;
}
