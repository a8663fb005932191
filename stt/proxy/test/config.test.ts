import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { serviceSettings } from '@vtuber-stt/core';
import { parseProxyConfig, PROXY_SETTINGS } from '../src/config.js';

describe('proxy settings, one schema', () => {
  it('reads pools of URLs, separated by commas or spaces, without trailing slashes', () => {
    const c = parseProxyConfig(['node', 'p'], { STT_CPU_URL: 'http://a:8001/, http://b:8001  http://c:8001' });
    expect(c.cpuUrls).toEqual(['http://a:8001', 'http://b:8001', 'http://c:8001']);
    expect(c.gpuUrls).toEqual([]);
  });

  it('names the variable of a bad value, and the value', () => {
    expect(() => parseProxyConfig(['node', 'p'], { STT_CPU_URL: 'http://a:8001,ftp://b' })).toThrow(/STT_CPU_URL \(--cpu-url\): .*http:\/\/ URL/);
    expect(() => parseProxyConfig(['node', 'p'], { STT_PROXY_MAX_CONNECTIONS: '0' })).toThrow(/STT_PROXY_MAX_CONNECTIONS.*\(got "0"\)/);
  });

  it('takes an empty STT_DETECT_URL as "no detection service", and no value as the default one', () => {
    expect(parseProxyConfig(['node', 'p'], { STT_DETECT_URL: '' }).detectUrl).toBeUndefined();
    expect(parseProxyConfig(['node', 'p'], {}).detectUrl).toBe('http://127.0.0.1:8003');
  });

  it("gives relayed sessions the retry waits it is set to, the client's defaults otherwise", () => {
    expect(parseProxyConfig(['node', 'p'], { STT_PROXY_RETRY_MS: '20', STT_PROXY_RETRY_ROUND_MS: '100' }).retry).toEqual({ retryDelayMs: 20, exhaustedDelayMs: 100 });
    expect(parseProxyConfig(['node', 'p'], {}).retry).toEqual({ retryDelayMs: 250, exhaustedDelayMs: 2000 });
  });

  it('lets a flag win over its variable', () => {
    expect(parseProxyConfig(['node', 'p', '--port', '9000'], { PORT: '9100' }).port).toBe(9000);
  });

  it('documents every variable in docs/configuration.md, whose proxy section names none that does not exist', () => {
    const reference = readFileSync(fileURLToPath(new URL('../../../docs/configuration.md', import.meta.url)), 'utf8');
    const section = reference.slice(reference.indexOf('\n## Proxy'));
    const envs = new Set(Object.values(PROXY_SETTINGS).map((s) => s.env));
    for (const env of envs) expect(section, env).toContain(`\`${env}\``);
    const named = [...section.matchAll(/`((?:STT_|PORT\b|HOST\b)[A-Z_]*)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(20);
    for (const env of named) expect(envs, env).toContain(env);
  });

  it("names only real settings in the README's table of the settings people change", () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    const table = readme.slice(readme.indexOf('\n## Settings people change\n'), readme.indexOf('\n## Troubleshooting\n'));
    const listed = [...table.matchAll(/^\| `([A-Z_]+)`(?:, `([A-Z_]+)`)?/gm)].flatMap((m) => [m[1]!, m[2]].filter(Boolean) as string[]);
    expect(listed.length).toBeGreaterThan(8);
    const service = serviceSettings({ name: 't', port: 1, model: 'base', device: 'cpu' });
    const real = new Set([...Object.values(PROXY_SETTINGS), ...Object.values(service)].map((s) => s.env));
    for (const env of listed) expect(real, env).toContain(env);
  });
});
