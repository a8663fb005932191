import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChecksumError, downloadFile, DownloadError, MODELS, ModelNotFoundError, partialPath, resolveModel } from '../src/index.js';

const run = promisify(execFile);
const body = randomBytes(300_000);
const sha256 = createHash('sha256').update(body).digest('hex');
const sha1 = createHash('sha1').update(body).digest('hex');

/** A real HTTP server with Range support; `/cut` drops the connection halfway through. */
function fileServer() {
  const seen: { path: string; range?: string }[] = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', range: req.headers.range });
    if (req.url === '/missing') {
      res.writeHead(404).end();
      return;
    }
    let start = 0;
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    if (m) start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416).end();
      return;
    }
    const slice = body.subarray(start);
    res.writeHead(m ? 206 : 200, { 'content-length': slice.length, ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
    if (req.url === '/cut') {
      res.write(slice.subarray(0, 100_000), () => res.destroy());
    } else {
      res.end(slice);
    }
  });
  return { server, seen };
}

describe('model download', () => {
  let server: Server;
  let seen: { path: string; range?: string }[];
  let base: string;
  beforeAll(async () => {
    ({ server, seen } = fileServer());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const tmp = () => mkdtempSync(join(tmpdir(), 'stt-models-'));

  it('downloads, verifies sha256 and sha1, and renames into place', async () => {
    const dest = join(tmp(), 'ggml-test.bin');
    const progress: number[] = [];
    await downloadFile({ url: `${base}/good`, dest, checksums: { sha256, sha1 }, onProgress: (p) => progress.push(p.received) });
    expect(readFileSync(dest).equals(body)).toBe(true);
    expect(existsSync(partialPath(dest))).toBe(false);
    expect(progress.at(-1)).toBe(body.length);
  });

  it('deletes a file whose checksum is wrong and leaves nothing in place', async () => {
    const dest = join(tmp(), 'ggml-test.bin');
    const wrong = 'f'.repeat(64);
    await expect(downloadFile({ url: `${base}/good`, dest, checksums: { sha256: wrong } })).rejects.toBeInstanceOf(ChecksumError);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(partialPath(dest))).toBe(false);
  });

  it('keeps an interrupted transfer and resumes it with a Range request', async () => {
    const dest = join(tmp(), 'ggml-test.bin');
    await expect(downloadFile({ url: `${base}/cut`, dest, checksums: { sha256 } })).rejects.toBeInstanceOf(DownloadError);
    expect(existsSync(dest)).toBe(false);
    const kept = statSync(partialPath(dest)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(body.length);
    seen.length = 0;
    await downloadFile({ url: `${base}/good`, dest, checksums: { sha256 } });
    expect(seen[0]?.range).toBe(`bytes=${kept}-`);
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('finishes when the partial file is already complete (HTTP 416)', async () => {
    const dest = join(tmp(), 'ggml-test.bin');
    writeFileSync(partialPath(dest), body);
    await downloadFile({ url: `${base}/good`, dest, checksums: { sha256 } });
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('reports HTTP errors by status', async () => {
    await expect(downloadFile({ url: `${base}/missing`, dest: join(tmp(), 'x.bin'), checksums: { sha256 } })).rejects.toThrow(/HTTP 404/);
  });

  it('`npm run models -- pull` refuses a file whose checksum does not match the registry', async () => {
    const dir = tmp();
    const cli = join(process.cwd(), 'stt/core/src/models/cli.ts');
    const result = await run(process.execPath, ['--import', 'tsx', cli, '--dir', dir, '--base-url', base, 'pull', 'tiny']).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/sha256 mismatch/);
    expect(seen.some((s) => s.path === '/ggml-tiny.bin')).toBe(true);
    expect(existsSync(join(dir, 'ggml-tiny.bin'))).toBe(false);
  });
});

describe('`npm run models -- pull` without a network', () => {
  const tmp = () => mkdtempSync(join(tmpdir(), 'stt-models-'));

  it('names the host and the cause, and says the offline ways (STT_MODEL, STT_MODEL_BASE_URL)', async () => {
    // A loopback port nothing listens on: the connection is refused at once.
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const cli = join(process.cwd(), 'stt/core/src/models/cli.ts');
    const result = await run(process.execPath, ['--import', 'tsx', cli, '--dir', tmp(), '--base-url', `http://127.0.0.1:${port}/models`, 'pull', 'tiny']).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach 127.0.0.1:${port} for http://127.0.0.1:${port}/models/ggml-tiny.bin: the connection was refused (ECONNREFUSED)`);
    expect(result.stderr).toContain('STT_MODEL=/path/to/ggml-tiny.bin');
    expect(result.stderr).toContain('STT_MODEL_BASE_URL=');
    expect(result.stderr).not.toContain('fetch failed');
  });

  it('says a name that does not resolve in words', async () => {
    const noDns = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND huggingface.co'), { code: 'ENOTFOUND' }) });
    const attempt = downloadFile({ url: 'https://huggingface.co/x/ggml-tiny.bin', dest: join(tmp(), 'x.bin'), checksums: { sha256 }, fetchImpl: () => Promise.reject(noDns) });
    await expect(attempt).rejects.toThrow('cannot reach huggingface.co for https://huggingface.co/x/ggml-tiny.bin: the name does not resolve (no network, or no DNS) (ENOTFOUND)');
  });
});

describe('model registry and resolution', () => {
  it('pins a checksum for every model and sha256 for tiny, base and a GPU-sized model', () => {
    for (const m of MODELS) expect(m.sha1).toMatch(/^[0-9a-f]{40}$/);
    for (const name of ['tiny', 'tiny.en', 'base', 'base.en', 'large-v3']) {
      expect(MODELS.find((m) => m.name === name)?.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('resolves names in the model directory and paths as given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stt-store-'));
    writeFileSync(join(dir, 'ggml-base.bin'), 'x');
    expect(resolveModel('base', dir).path).toBe(join(dir, 'ggml-base.bin'));
    expect(resolveModel(join(dir, 'ggml-base.bin'), '/nowhere').path).toBe(join(dir, 'ggml-base.bin'));
  });

  it('says how to get a missing model', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stt-store-'));
    expect(() => resolveModel('tiny', dir)).toThrow(ModelNotFoundError);
    expect(() => resolveModel('tiny', dir)).toThrow(/npm run models -- pull tiny/);
    expect(() => resolveModel('/no/such/model.bin', dir)).toThrow(/does not exist/);
    expect(() => resolveModel('gigantic', dir)).toThrow(/unknown model "gigantic"/);
  });
});
