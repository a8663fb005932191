import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface TestCertificate {
  dir: string;
  cert: string;
  key: string;
  /** The certificate's PEM, for clients to trust (`ca`). */
  ca: Buffer;
}

/** A self-signed certificate made as docs/deployment.md ("TLS") says (`npm run cert`, the script itself), in a temporary folder. */
export function makeTestCertificate(args: string[] = []): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'tls-'));
  execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/make_cert.ts'), '--dir', dir, ...args], { cwd: root, stdio: 'pipe' });
  return { dir, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: readFileSync(join(dir, 'cert.pem')) };
}

export interface HttpsAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTPS request trusting `ca` (global fetch cannot be given a CA without undici's Agent). */
export function httpsRequest(url: string, ca: Buffer | undefined, init: { method?: string; headers?: Record<string, string>; body?: Buffer; servername?: string } = {}): Promise<HttpsAnswer> {
  const options: RequestOptions = { method: init.method ?? 'GET', headers: init.headers, ca, servername: init.servername };
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A FormData as the bytes and Content-Type a client sends. */
export async function multipart(form: FormData): Promise<{ body: Buffer; headers: Record<string, string> }> {
  const encoded = new Response(form);
  return { body: Buffer.from(await encoded.arrayBuffer()), headers: { 'content-type': encoded.headers.get('content-type')! } };
}
