import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le } from '@vtuber-stt/core';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { rawRequest } from './helpers/raw_http.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';

const WORDS = syntheticText(fixtureModel('base'), 20);
const KEY = 'stt-test-key-0123456789abcdef';
const OTHER = 'stt-test-key-second-one-000000';
const WRONG = 'stt-test-key-wrong-9999999999';
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
const wav = readFileSync(audioPath('speechbrain/spk1_snt1.wav'));

type Outcome = { open: true; first?: Record<string, unknown> } | { open: false; code: number; reason: string } | { open: false; status: number; body: Record<string, any> };

/** Opens a WebSocket and reports whether it stayed open (with its first message), how it was closed, or how its handshake was refused. */
function tryWs(url: string, headers: Record<string, string> = {}, first?: (ws: WebSocket) => void): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    let settled = false;
    ws.once('open', () => first?.(ws));
    ws.on('message', (data) => {
      if (settled) return;
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      // A refusal's error reply (if any) comes before its close; only a real answer counts as open.
      if (message.type === 'error' || message.type === 'config' || message.type === 'session.updated') return;
      settled = true;
      ws.close();
      resolve({ open: true, first: message });
    });
    ws.once('close', (code, reason) => {
      if (!settled) resolve({ open: false, code, reason: reason.toString() });
      settled = true;
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.once('end', () => {
        settled = true;
        resolve({ open: false, status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, any> });
        ws.terminate();
      });
    });
    ws.once('error', (error) => {
      if (!settled) reject(error);
    });
    setTimeout(() => reject(new Error(`no answer from ${url}`)), 60_000).unref();
  });
}

const transcribeFirst = (ws: WebSocket) => {
  ws.send(speech);
  ws.send('<flush>');
};

describe('API keys', () => {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  let service: Awaited<ReturnType<typeof startTestService>>;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  beforeAll(async () => {
    // The backend asks for a key too: the proxy presents its own.
    service = await startTestService({ apiKeys: [KEY], roles: ['transcribe', 'detect'], detector: 'silero' });
    // This file presents more wrong keys than STT_MAX_KEY_FAILURES allows a minute (its own test is in bad_input_origins.test.ts).
    proxy = await startTestProxy({ cpu: service.url, detect: service.url }, { apiKeys: [KEY, OTHER], backendApiKey: KEY, maxKeyFailures: 0 }, { logger: pino({ level: 'debug' }, sink) });
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.close();
  });

  describe('on a transcription service', () => {
    it('leaves /health and /ready open and guards /metrics', async () => {
      expect((await fetch(`${service.url}/health`)).status).toBe(200);
      expect((await fetch(`${service.url}/ready`)).status).toBe(200);
      const none = await fetch(`${service.url}/metrics`);
      expect(none.status).toBe(401);
      expect(await none.json()).toMatchObject({ code: 'unauthorized' });
      expect((await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${WRONG}` } })).status).toBe(401);
      expect((await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);
      expect((await fetch(`${service.url}/metrics`, { headers: { 'x-api-key': KEY } })).status).toBe(200);
    });

    it('refuses a WebSocket handshake without the right key with 401 and the reason, before the upgrade', async () => {
      expect(await tryWs(service.ws, {}, transcribeFirst)).toEqual({
        open: false,
        status: 401,
        body: { type: 'error', code: 'unauthorized', error: 'API key required: add ?api_key=... or an Authorization: Bearer header' },
      });
      expect(await tryWs(`${service.ws}?api_key=${WRONG}`, {}, transcribeFirst)).toEqual({ open: false, status: 401, body: { type: 'error', code: 'unauthorized', error: 'invalid API key' } });
      expect(await tryWs(service.ws, { authorization: `Bearer ${KEY}` }, transcribeFirst)).toMatchObject({ open: true, first: { type: 'transcript', text: WORDS } });
      expect(await tryWs(`${service.ws}?api_key=${KEY}`, {}, transcribeFirst)).toMatchObject({ open: true, first: { type: 'transcript', text: WORDS } });
    });
  });

  describe('on the proxy', () => {
    const http: [string, string, () => RequestInit][] = [
      ['GET', '/api/status', () => ({})],
      ['GET', '/api/gpu', () => ({})],
      ['PUT', '/api/gpu', () => ({ body: JSON.stringify({ enabled: false }), headers: { 'content-type': 'application/json' } })],
      ['POST', '/api/transcribe', () => ({ body: wav, headers: { 'content-type': 'audio/wav' } })],
      ['GET', '/metrics', () => ({})],
      ['GET', '/v1/models', () => ({})],
      [
        'POST',
        '/v1/audio/transcriptions',
        () => {
          const form = new FormData();
          form.append('file', new Blob([wav], { type: 'audio/wav' }), 'a.wav');
          form.append('model', 'whisper-1');
          return { body: form };
        },
      ],
    ];

    it('leaves /health, /ready and the control panel page open', async () => {
      for (const path of ['/health', '/ready', '/']) expect((await fetch(`${proxy.url}${path}`)).status, path).toBe(200);
    });

    for (const [method, path, init] of http) {
      it(`${method} ${path}: 401 without a key and with a wrong one, served with a right one`, async () => {
        const call = (headers: Record<string, string>) => {
          const i = init();
          return fetch(`${proxy.url}${path}`, { method, ...i, headers: { ...(i.headers as Record<string, string> | undefined), ...headers } });
        };
        const none = await call({});
        expect(none.status).toBe(401);
        const body = (await none.json()) as Record<string, any>;
        if (path.startsWith('/v1/')) expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
        else expect(body).toMatchObject({ code: 'unauthorized' });
        expect((await call({ authorization: `Bearer ${WRONG}` })).status).toBe(401);
        expect((await call({ 'x-api-key': WRONG })).status).toBe(401);
        const ok = await call({ authorization: `Bearer ${KEY}` });
        expect(ok.status, await ok.clone().text()).toBe(200);
        expect((await call({ 'x-api-key': OTHER })).status).toBe(200);
      });
    }

    it('a key in the query string of a plain HTTP request does not count (it would end up in logs), Upgrade header or not', async () => {
      expect((await fetch(`${proxy.url}/api/status?api_key=${KEY}`)).status).toBe(401);
      // A plain request that merely carries the header is no handshake, on a socket route or elsewhere.
      for (const path of ['/api/status', '/ws/transcribe', '/v1/realtime']) {
        const res = await rawRequest(`${proxy.url}${path}?api_key=${KEY}`, { headers: { upgrade: 'websocket' } });
        expect(res.status, path).toBe(401);
      }
      // A real upgrade to a route that is no socket route does not take it either.
      const upgrade = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
      expect((await rawRequest(`${proxy.url}/api/status?api_key=${KEY}`, { headers: upgrade })).status).toBe(401);
      expect((await fetch(`${proxy.url}/api/status`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);
    });

    const sockets: [string, (ws: WebSocket) => void, Record<string, unknown>][] = [
      ['/ws/transcribe', transcribeFirst, { type: 'transcript', text: WORDS }],
      ['/ws/detect', (ws) => ws.send(speech.subarray(0, 1024)), { type: 'detect' }],
      [
        '/v1/realtime?intent=transcription',
        () => undefined,
        { type: 'session.created' },
      ],
    ];
    for (const [path, first, answer] of sockets) {
      it(`${path}: its handshake refused 401 with the reason without a key and with a wrong one, served with a right one`, async () => {
        const url = `${proxy.ws}${path}`;
        const join = path.includes('?') ? '&' : '?';
        // OpenAI's shape under /v1 (its SDKs and LiveKit's plugin report a refused realtime handshake so).
        const refused = (message: string | ReturnType<typeof expect.stringContaining>) =>
          path.startsWith('/v1/')
            ? { open: false, status: 401, body: { error: { type: 'invalid_request_error', code: 'invalid_api_key', message, param: null } } }
            : { open: false, status: 401, body: { type: 'error', code: 'unauthorized', error: message } };
        expect(await tryWs(url, {}, first)).toEqual(refused(expect.stringContaining('API key required')));
        expect(await tryWs(`${url}${join}api_key=${WRONG}`, {}, first)).toEqual(refused('invalid API key'));
        expect(await tryWs(url, { authorization: `Bearer ${WRONG}` }, first)).toEqual(refused('invalid API key'));
        expect(await tryWs(`${url}${join}api_key=${KEY}`, {}, first)).toMatchObject({ open: true, first: answer });
        expect(await tryWs(url, { 'x-api-key': OTHER }, first)).toMatchObject({ open: true, first: answer });
      });
    }

    it('a backend that refuses the proxy\'s key at the handshake ends the session with 1008 and the reason, and answers REST at once, without retrying or holding', async () => {
      const misconfigured = await startTestProxy({ cpu: service.url }, { backendApiKey: WRONG });
      try {
        const outcome = await tryWs(`${misconfigured.ws}/ws/transcribe`, {}, transcribeFirst);
        expect(outcome).toEqual({ open: false, code: 1008, reason: 'invalid API key' });
        // A restart would not change a wrong key: not held for a member to come back (STT_PROXY_HOLD_MS).
        const r = await fetch(`${misconfigured.url}/api/transcribe`, { method: 'POST', body: wav });
        expect(r.status).toBe(502);
        expect(await r.json()).toMatchObject({ code: 'unreachable', error: expect.stringMatching(/refused the proxy's connection \(HTTP 401: invalid API key\); check STT_BACKEND_API_KEY$/) });
        expect(await (await fetch(`${misconfigured.url}/metrics`)).text()).not.toMatch(/^stt_proxy_held_total\{[^}]*surface="rest"[^}]*\} [1-9]/m);
      } finally {
        await misconfigured.close();
      }
    });

    it('never writes a key into its logs', () => {
      const all = logs.join('');
      expect(all.length).toBeGreaterThan(0);
      // It says at start that keys are required.
      expect(all).toContain('API keys required on every route but /health and /ready');
      for (const k of [KEY, OTHER, WRONG]) expect(all).not.toContain(k);
    });
  });
});
