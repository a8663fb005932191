import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
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

  it('documents every variable in the README', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    for (const s of Object.values(PROXY_SETTINGS)) expect(readme, s.env).toContain(`\`${s.env}\``);
  });
});
