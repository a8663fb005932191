// The proxy's own TLS listener (STT_TLS_CERT, STT_TLS_KEY): HTTPS and WSS on its one port, with a
// certificate made by `npm run cert`, in front of a real service. nginx's TLS listener is in
// deployment.test.ts, `npm start`'s in start_stack.test.ts.
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, type RunningService } from '@vtuber-stt/core';
import { parseProxyConfig } from '@vtuber-stt/proxy';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { httpsRequest, makeTestCertificate, multipart } from './helpers/https.js';
import { startTestProxy } from './helpers/proxy.js';
import { commitOnce, RealtimeClient } from './helpers/realtime_client.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';

const WORDS = syntheticText(fixtureModel('base'), 20);
const panelDir = fileURLToPath(new URL('../control-panel/dist', import.meta.url));
const tls = makeTestCertificate(['--host', 'stt.test']);
const tlsEnv = (env: Record<string, string>) => () => parseProxyConfig(['node', 'proxy'], env);

describe('STT_TLS_CERT and STT_TLS_KEY', () => {
  it('are read together, and a wrong one is named at start', () => {
    expect(tlsEnv({ STT_TLS_CERT: tls.cert })).toThrow(/STT_TLS_KEY: must be set with STT_TLS_CERT/);
    expect(tlsEnv({ STT_TLS_KEY: tls.key })).toThrow(/STT_TLS_CERT: must be set with STT_TLS_KEY/);
    const missing = join(tls.dir, 'missing.pem');
    expect(tlsEnv({ STT_TLS_CERT: tls.cert, STT_TLS_KEY: missing })).toThrow(`STT_TLS_KEY: ${missing} cannot be read`);
    expect(tlsEnv({ STT_TLS_CERT: missing, STT_TLS_KEY: tls.key })).toThrow(`STT_TLS_CERT: ${missing} cannot be read`);
    // The certificate given as its own key: not a key, said before any client connects.
    expect(tlsEnv({ STT_TLS_CERT: tls.cert, STT_TLS_KEY: tls.cert })).toThrow(/STT_TLS_CERT\/STT_TLS_KEY: .* are not a PEM certificate and its private key/);
    expect(parseProxyConfig(['node', 'proxy'], {}).tls).toBeUndefined();
    expect(parseProxyConfig(['node', 'proxy', '--tls-cert', tls.cert, '--tls-key', tls.key], {}).tls?.cert).toEqual(tls.ca);
  });
});

describe('the proxy over HTTPS and WSS', () => {
  let service: RunningService;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  const BODY_TIMEOUT_MS = 1000;

  beforeAll(async () => {
    if (!existsSync(join(panelDir, 'index.html'))) throw new Error('control-panel/dist is missing: npm run build:panel');
    service = await startTestService();
    const { tls: files } = parseProxyConfig(['node', 'proxy'], { STT_TLS_CERT: tls.cert, STT_TLS_KEY: tls.key });
    proxy = await startTestProxy({ cpu: service.url }, { tls: files, panelDir, bodyTimeoutMs: BODY_TIMEOUT_MS });
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  it('serves probes, status and the panel to a client that trusts the certificate, and nothing in clear', async () => {
    expect(proxy.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(proxy.ws).toMatch(/^wss:/);
    expect((await httpsRequest(`${proxy.url}/health`, tls.ca)).status).toBe(200);
    const status = await httpsRequest(`${proxy.url}/api/status`, tls.ca);
    expect(JSON.parse(status.body).backends.cpu.state).toBe('ready');
    const panel = await httpsRequest(`${proxy.url}/`, tls.ca);
    expect(panel.status).toBe(200);
    expect(panel.body).toContain('data-i18n="title"');
    // The certificate holds the names given to npm run cert (stt.test), and clients check them.
    expect((await httpsRequest(`${proxy.url}/health`, tls.ca, { servername: 'stt.test', headers: { host: 'stt.test' } })).status).toBe(200);
    await expect(httpsRequest(`${proxy.url}/health`, tls.ca, { servername: 'other.test' })).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    // A client that does not trust it is refused by its own TLS stack, and plain HTTP gets no answer.
    await expect(httpsRequest(`${proxy.url}/health`, undefined)).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    await expect(fetch(`${proxy.url.replace('https', 'http')}/health`)).rejects.toThrow();
  });

  it('transcribes an upload on /v1/audio/transcriptions', async () => {
    const form = new FormData();
    form.append('file', new Blob([readFileSync(audioPath('speechbrain/spk1_snt1.wav'))]), 'a.wav');
    form.append('response_format', 'text');
    const { body, headers } = await multipart(form);
    const answer = await httpsRequest(`${proxy.url}/v1/audio/transcriptions`, tls.ca, { method: 'POST', headers, body });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe(`${WORDS}\n`);
  });

  it('carries a /ws/transcribe session over wss:// from the panel served over https', async () => {
    // A browser on the https panel sends its own https origin: the origin guard takes it as the stack's own.
    const c = await TestClient.connect(`${proxy.ws}/ws/transcribe`, { ca: tls.ca, headers: { origin: proxy.url } });
    c.sendAudio(encodeS16le(loadClip('speechbrain/spk1_snt1.wav')));
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, backend: 'cpu' });
    await c.close();
  });

  it('carries an OpenAI Realtime transcription session over wss://', async () => {
    const c = await RealtimeClient.connect(`${proxy.ws}/v1/realtime?intent=transcription`, { ca: tls.ca });
    expect(await commitOnce(c, encodeS16le(loadClip('speechbrain/spk1_snt1.wav')))).toMatchObject({ transcript: WORDS });
    await c.close();
  });

  it('closes a connection that never starts its TLS handshake (STT_PROXY_BODY_TIMEOUT_MS), and goes on serving', async () => {
    const port = Number(new URL(proxy.url).port);
    const socket = connect(port, '127.0.0.1');
    const closed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
    // Bounded, so that a listener that never closes it fails here instead of hanging the file.
    const closedInTime = await Promise.race([closed, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), BODY_TIMEOUT_MS * 5))]);
    socket.destroy();
    expect(closedInTime).toBe(true);
    expect((await httpsRequest(`${proxy.url}/health`, tls.ca)).status).toBe(200);
  });
});
