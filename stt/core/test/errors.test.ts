import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { closeCodeOf, codeOf, ERRORS, isPermanentClose, openAICodeOf, ServiceError, statusOf, type ErrorCode } from '../src/index.js';
import { EngineError, QueueFullError } from '../src/index.js';

const codes = Object.keys(ERRORS) as ErrorCode[];

describe('the error table', () => {
  it('gives every code an error status and, where it closes, a close code a client can act on', () => {
    for (const code of codes) {
      expect(statusOf(code), code).toBeGreaterThanOrEqual(400);
      expect(statusOf(code), code).toBeLessThan(600);
      const close = closeCodeOf(code);
      if (close === undefined) continue;
      // Permanent refusals end a resilient client's session; the rest make it reconnect.
      expect([1001, 1002, 1007, 1008, 1009, 1013], code).toContain(close);
      expect(isPermanentClose(close), code).toBe(statusOf(code) < 500);
    }
  });

  it('is what thrown errors answer with', () => {
    expect(new QueueFullError(4).status).toBe(503);
    expect(codeOf(new QueueFullError(4))).toBe('overloaded');
    expect(codeOf(new EngineError('x', 'engine_unavailable'))).toBe('engine_unavailable');
    expect(codeOf(new Error('plain'))).toBe('engine_error');
    expect(codeOf({ code: 'not_a_code' }, 'internal_error')).toBe('internal_error');
    expect(new ServiceError('bad_query', 'x').status).toBe(400);
    expect(openAICodeOf('unauthorized')).toBe('invalid_api_key');
  });

  it('is documented: docs/protocol.md lists every code with its status and close code', () => {
    const reference = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
    for (const code of codes) {
      const row = reference.split('\n').find((line) => line.startsWith(`| \`${code}\``));
      expect(row, code).toBeDefined();
      const cells = row!.split('|').map((c) => c.trim());
      expect(cells[2], code).toBe(String(statusOf(code)));
      expect(cells[3], code).toBe(String(closeCodeOf(code) ?? 'stays open'));
    }
    // And the table names no code that does not exist.
    const from = reference.indexOf('\n## Errors');
    const table = reference.slice(from, reference.indexOf('\n## ', from + 1));
    const listed = [...table.matchAll(/^\| `([a-z_]+)`/gm)].map((m) => m[1]!);
    expect(listed.length).toBeGreaterThan(20);
    for (const code of listed) expect(codes, code).toContain(code);
  });
});
