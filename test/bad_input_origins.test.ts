import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, KeyThrottle } from '@vtuber-stt/core';
import { parseProxyConfig } from '@vtuber-stt/proxy';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { rawRequest, type RawAnswer } from './helpers/raw_http.js';
import { startTestService, TEST_MODEL } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';

/**
 * Bad-input corpus, origins and keys: any web page the streamer opens can reach loopback, so
 * without API keys the stack serves only its own host names (DNS rebinding) and its own pages
 * (a browser's Origin header); with keys, a wrong key is refused at the handshake (OpenAI's 401)
 * and an address that keeps guessing is answered 429. Each case sends the exact input, checks
 * the answer, and an ordinary session is served afterwards.
 */

const WORDS = syntheticText(fixtureModel('base'), 20);
const KEY = 'origins-test-key-0123456789';
const WRONG = 'origins-test-key-wrong-00000';
const EVIL = 'https://evil.example';
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
const wav = readFileSync(audioPath('speechbrain/spk1_snt1.wav'));

type Handshake = { status: number; body: Record<string, any>; headers: Record<string, unknown> } | { socket: WebSocket };

/** A WebSocket handshake with exactly these headers: refused (status and body), or the open socket. */
function handshake(url: string, headers: Record<string, string> = {}, localAddress?: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, localAddress });
    ws.once('open', () => resolve({ socket: ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.once('end', () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, any>, headers: res.headers });
        ws.terminate();
      });
    });
    ws.once('error', reject);
  });
}

/** A small multipart upload, as a cross-site form would send it (no preflight needed). */
function multipart(): { body: Buffer; type: string } {
  const boundary = '----origins-test';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
    wav,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

const json = (a: RawAnswer) => JSON.parse(a.body) as Record<string, any>;

describe('bad input: origins, host names and keys', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  /** No keys: its own names, plus stt.example, names under home.lan and pages of https://app.example. */
  let open: Awaited<ReturnType<typeof startTestProxy>>;
  /** Keys, with a wrong-key limit of 3 a minute per address. */
  let keyed: Awaited<ReturnType<typeof startTestProxy>>;
  let port: string;

  beforeAll(async () => {
    service = await startTestService();
    [open, keyed] = await Promise.all([
      startTestProxy({ cpu: service.url }, { allowedHosts: ['stt.example', '.home.lan'], allowedOrigins: ['https://app.example'] }),
      startTestProxy({ cpu: service.url }, { apiKeys: [KEY], maxKeyFailures: 3 }),
    ]);
    port = new URL(open.url).port;
  });
  afterAll(async () => {
    await Promise.all([open?.close(), keyed?.close()]);
    await service?.close();
  });

  /** An ordinary session through the open proxy and the service directly is transcribed. */
  async function stillServing(label: string): Promise<void> {
    for (const url of [`${open.ws}/ws/transcribe`, service.ws]) {
      const h = await handshake(url);
      if (!('socket' in h)) throw new Error(`${label}: ${url} refused ${h.status}`);
      const reply = new Promise<Record<string, unknown>>((resolve) => h.socket.once('message', (d) => resolve(JSON.parse(d.toString()))));
      h.socket.send(speech);
      h.socket.send('<flush>');
      expect(await reply, `${label}: ${url}`).toMatchObject({ type: 'transcript', text: WORDS });
      h.socket.close();
    }
  }

  describe('without keys, another site cannot drive it (Origin)', () => {
    it('refuses a WebSocket handshake from another origin with 403, before the upgrade: /ws/transcribe, the service, /v1/realtime', async () => {
      const transcribe = await handshake(`${open.ws}/ws/transcribe`, { origin: EVIL });
      expect(transcribe).toMatchObject({ status: 403, body: { type: 'error', code: 'forbidden_origin', error: expect.stringContaining('STT_ALLOWED_ORIGINS') } });
      const direct = await handshake(service.ws, { origin: EVIL });
      expect(direct).toMatchObject({ status: 403, body: { code: 'forbidden_origin' } });
      // OpenAI's shape on /v1: its SDKs report the status and message.
      const realtime = await handshake(`${open.ws}/v1/realtime?intent=transcription`, { origin: EVIL });
      expect(realtime).toMatchObject({ status: 403, body: { error: { type: 'invalid_request_error', code: 'forbidden_origin', message: expect.stringContaining('evil.example') } } });
      // A page opened from a file or a sandboxed frame says "null".
      expect(await handshake(`${open.ws}/ws/transcribe`, { origin: 'null' })).toMatchObject({ status: 403 });
      await stillServing('after refused handshakes');
    });

    it('refuses a cross-origin multipart POST (a simple request: no preflight) with 403 before any work', async () => {
      const { body, type } = multipart();
      const refused = await rawRequest(`${open.url}/v1/audio/transcriptions`, { method: 'POST', headers: { origin: EVIL, 'content-type': type }, body });
      expect(refused.status).toBe(403);
      expect(json(refused).error).toMatchObject({ code: 'forbidden_origin' });
      const rest = await rawRequest(`${open.url}/api/transcribe`, { method: 'POST', headers: { origin: EVIL, 'content-type': 'audio/wav' }, body: wav });
      expect([rest.status, json(rest).code]).toEqual([403, 'forbidden_origin']);
      // The same upload without an Origin (curl, an SDK) is served.
      const served = await rawRequest(`${open.url}/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': type }, body });
      expect([served.status, json(served).text]).toEqual([200, WORDS]);
    });

    it('refuses PUT /api/gpu from another origin, and the toggle stays as it was', async () => {
      const before = json(await rawRequest(`${open.url}/api/gpu`)).enabled;
      const refused = await rawRequest(`${open.url}/api/gpu`, { method: 'PUT', headers: { origin: EVIL, 'content-type': 'application/json' }, body: JSON.stringify({ enabled: !before }) });
      expect([refused.status, json(refused).code]).toEqual([403, 'forbidden_origin']);
      expect(json(await rawRequest(`${open.url}/api/gpu`)).enabled).toBe(before);
    });

    it('serves its own pages (same origin), clients without an Origin, and the origins in STT_ALLOWED_ORIGINS', async () => {
      for (const [host, origin] of [
        [`127.0.0.1:${port}`, `http://127.0.0.1:${port}`],
        [`localhost:${port}`, `http://localhost:${port}`],
        [`127.0.0.1:${port}`, 'https://app.example'],
        [`stt.example:${port}`, `http://stt.example:${port}`],
        [`box.home.lan:${port}`, `http://box.home.lan:${port}`],
      ] as const) {
        const put = await rawRequest(`${open.url}/api/gpu`, { method: 'PUT', headers: { host, origin, 'content-type': 'application/json' }, body: '{"enabled":false}' });
        expect(put.status, `${host} ${origin}`).toBe(200);
        const h = await handshake(`${open.ws}/ws/transcribe`, { host, origin });
        expect('socket' in h, `${host} ${origin}`).toBe(true);
        if ('socket' in h) h.socket.close();
      }
      // Same name, another port: another origin.
      const other = await rawRequest(`${open.url}/api/status`, { headers: { origin: `http://127.0.0.1:1${port}` } });
      expect(other.status).toBe(403);
      await stillServing('after same-origin requests');
    });
  });

  describe('without keys, another name cannot reach it (Host: DNS rebinding)', () => {
    it('refuses a Host that is not its own with 403 naming STT_ALLOWED_HOSTS, on REST, the service and a handshake', async () => {
      const status = await rawRequest(`${open.url}/api/status`, { headers: { host: 'evil.example' } });
      expect(status.status).toBe(403);
      expect(json(status)).toMatchObject({ type: 'error', code: 'forbidden_host', error: expect.stringContaining('STT_ALLOWED_HOSTS') });
      // The page origin matches the host after a rebinding: the Host is what tells.
      const put = await rawRequest(`${open.url}/api/gpu`, { method: 'PUT', headers: { host: `evil.example:${port}`, origin: `http://evil.example:${port}`, 'content-type': 'application/json' }, body: '{"enabled":true}' });
      expect([put.status, json(put).code]).toEqual([403, 'forbidden_host']);
      expect(await handshake(`${open.ws}/ws/transcribe`, { host: 'evil.example' })).toMatchObject({ status: 403, body: { code: 'forbidden_host' } });
      const direct = await rawRequest(`${service.url}/metrics`, { headers: { host: 'evil.example' } });
      expect([direct.status, json(direct).code]).toEqual([403, 'forbidden_host']);
      // A subdomain of a configured name is not that name; probes stay open.
      expect((await rawRequest(`${open.url}/api/status`, { headers: { host: 'x.stt.example' } })).status).toBe(403);
      expect((await rawRequest(`${open.url}/health`, { headers: { host: 'evil.example' } })).status).toBe(200);
      await stillServing('after refused host names');
    });
  });

  describe('what the stack shows and how its pages may be used', () => {
    it('sends the panel page with its security headers, and API answers with nosniff', async () => {
      const page = await rawRequest(`${open.url}/`);
      expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(page.headers['content-security-policy']).toContain("default-src 'self'");
      expect(page.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' });
      for (const url of [`${open.url}/api/status`, `${service.url}/ready`]) {
        const api = await rawRequest(url);
        expect(api.headers, url).toMatchObject({ 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'; frame-ancestors 'none'" });
      }
    });

    it('names the model in /ready and /api/status, never its absolute path', async () => {
      const model = TEST_MODEL();
      const ready = await rawRequest(`${service.url}/ready`);
      expect(json(ready).model).toBe(basename(model));
      const status = await rawRequest(`${open.url}/api/status`);
      expect(json(status).backends.cpu.model).toBe(basename(model));
      for (const answer of [ready, status, await rawRequest(`${open.url}/ready`)]) expect(answer.body).not.toContain(dirname(model));
    });
  });

  describe('with keys', () => {
    it('refuses /v1/realtime with a wrong or missing key at the handshake: 401 in OpenAI shape, as OpenAI does', async () => {
      for (const headers of [{ authorization: `Bearer ${WRONG}` }, {}] as Record<string, string>[]) {
        const h = await handshake(`${keyed.ws}/v1/realtime?intent=transcription`, headers, '127.0.0.3');
        expect(h).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer' }, body: { error: { type: 'invalid_request_error', code: 'invalid_api_key', param: null } } });
      }
      const ok = await handshake(`${keyed.ws}/v1/realtime?intent=transcription`, { authorization: `Bearer ${KEY}` }, '127.0.0.3');
      expect('socket' in ok).toBe(true);
      if ('socket' in ok) ok.socket.close();
    });

    it('takes ?api_key= on a real handshake only, not on a plain request that carries an Upgrade header', async () => {
      const plain = await rawRequest(`${keyed.url}/api/status?api_key=${KEY}`, { headers: { upgrade: 'websocket' } });
      expect([plain.status, json(plain).code]).toEqual([401, 'unauthorized']);
      const socket = await handshake(`${keyed.ws}/ws/transcribe?api_key=${KEY}`);
      expect('socket' in socket).toBe(true);
      if ('socket' in socket) socket.socket.close();
    });

    it('answers 429 with Retry-After after 3 wrong keys from one address, while the right key and other addresses are served', async () => {
      const from = (localAddress: string, key: string) => rawRequest(`${keyed.url}/api/status`, { headers: { authorization: `Bearer ${key}` }, localAddress });
      for (let i = 0; i < 3; i++) expect((await from('127.0.0.2', WRONG)).status).toBe(401);
      const throttled = await from('127.0.0.2', WRONG);
      expect(throttled.status).toBe(429);
      expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
      expect(json(throttled)).toMatchObject({ code: 'too_many_attempts', error: expect.stringContaining('STT_MAX_KEY_FAILURES') });
      // A handshake from there is answered so too, before the upgrade, in the route's own shape.
      const realtime = await handshake(`${keyed.ws}/v1/realtime?intent=transcription`, { authorization: `Bearer ${WRONG}` }, '127.0.0.2');
      expect(realtime).toMatchObject({ status: 429, body: { error: { type: 'rate_limit_error', code: 'rate_limit_exceeded' } } });
      // The right key still passes there (an address may be shared: nginx, a NAT); others are not throttled.
      expect((await from('127.0.0.2', KEY)).status).toBe(200);
      expect((await from('127.0.0.4', WRONG)).status).toBe(401);
    });

    it('keeps at most 10000 addresses, an IPv6 client counted by its /64', () => {
      const throttle = new KeyThrottle(2);
      for (let i = 0; i < 20_000; i++) throttle.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      expect(throttle.size).toBe(10_000);
      throttle.failed('2001:db8:1:2::1');
      throttle.failed('2001:db8:1:2:ffff::9');
      expect(throttle.retryAfter('2001:0db8:0001:0002::77')).toBeGreaterThan(0);
      expect(throttle.retryAfter('2001:db8:1:3::1')).toBeUndefined();
    });

    it('refuses at start a key that cannot travel in an HTTP header, naming the variable', () => {
      const env = (extra: Record<string, string>) => ({ STT_CPU_URL: service.url, ...extra });
      expect(() => parseProxyConfig(['node', 'proxy'], env({ STT_API_KEYS: 'clé-non-ascii-0123456789' }))).toThrow(/STT_API_KEYS: .*printable ASCII/);
      expect(() => parseProxyConfig(['node', 'proxy'], env({ STT_API_KEYS: 'key with spaces 0123456789' }))).toThrow(/STT_API_KEYS: .*printable ASCII/);
      const file = join(mkdtempSync(join(tmpdir(), 'keys-')), 'keys');
      writeFileSync(file, `${KEY}\n키-0123456789abcdefgh\n`);
      expect(() => parseProxyConfig(['node', 'proxy'], env({ STT_API_KEY_FILE: file }))).toThrow(/STT_API_KEY_FILE: .*printable ASCII/);
      expect(() => parseProxyConfig(['node', 'proxy'], env({ STT_ALLOWED_ORIGINS: 'evil.example' }))).toThrow(/STT_ALLOWED_ORIGINS/);
    });
  });
});
