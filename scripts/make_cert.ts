/**
 * `npm run cert -- [--host NAME]... [--ip ADDRESS]... [--dir DIR] [--days N] [--force]`: a
 * self-signed certificate and its key for the proxy's HTTPS listener (STT_TLS_CERT, STT_TLS_KEY)
 * or nginx (TLS_CERT, TLS_KEY), made by openssl, valid for localhost, this machine's name and the
 * names and addresses given: the ones other machines use to reach this one. Browsers and clients
 * trust it only once told to (docs/deployment.md "TLS"); mkcert makes one they trust at once.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, hostname, tmpdir } from 'node:os';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const DEFAULT_DIR = join(homedir(), '.config', 'vtuber-stt', 'tls');

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      host: { type: 'string', multiple: true, default: [] },
      ip: { type: 'string', multiple: true, default: [] },
      dir: { type: 'string', default: DEFAULT_DIR },
      days: { type: 'string', default: '825' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }).values;
}
try {
  args = parse();
} catch (error) {
  fail(`${(error as Error).message}\nusage: npm run cert -- [--host NAME]... [--ip ADDRESS]... [--dir DIR] [--days N] [--force]`);
}
if (args.help) {
  process.stdout.write(
    'usage: npm run cert -- [--host NAME]... [--ip ADDRESS]... [--dir DIR] [--days N] [--force]\n' +
      `  a self-signed certificate (cert.pem) and key (key.pem) in DIR (default ${DEFAULT_DIR}),\n` +
      '  valid for localhost, 127.0.0.1, ::1, this machine\'s name and every --host and --ip given.\n',
  );
  process.exit(0);
}

const hosts = [...new Set(['localhost', ...args.host.map((h) => h.trim().toLowerCase()), hostname().toLowerCase()])].filter(Boolean);
for (const h of hosts) if (!/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(h)) fail(`--host ${JSON.stringify(h)} is not a host name`);
const ips = [...new Set(['127.0.0.1', '::1', ...args.ip.map((a) => a.trim())])];
for (const a of ips) if (isIP(a) === 0) fail(`--ip ${JSON.stringify(a)} is not an IP address`);
const days = Number(args.days);
if (!Number.isInteger(days) || days < 1 || days > 3650) fail(`--days ${args.days}: must be a whole number of days from 1 to 3650`);

const dir = resolve(args.dir);
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
// A key in use is never replaced by accident: clients that trust the old certificate would stop connecting.
if (!args.force && (existsSync(cert) || existsSync(key))) fail(`${dir} already holds cert.pem or key.pem; --force replaces them`);

// One config file rather than -addext: openssl's default config would add CA:TRUE, which
// browsers refuse on a server's own certificate.
const config = [
  '[req]',
  'prompt = no',
  'distinguished_name = dn',
  'x509_extensions = ext',
  '[dn]',
  `CN = ${hosts.find((h) => h !== 'localhost') ?? 'localhost'}`,
  'O = vtuber-stt (self-signed)',
  '[ext]',
  'basicConstraints = critical, CA:FALSE',
  'keyUsage = critical, digitalSignature, keyEncipherment',
  'extendedKeyUsage = serverAuth',
  'subjectKeyIdentifier = hash',
  `subjectAltName = ${[...hosts.map((h) => `DNS:${h}`), ...ips.map((a) => `IP:${a}`)].join(', ')}`,
  '',
].join('\n');
const work = mkdtempSync(join(tmpdir(), 'vtuber-stt-cert-'));
try {
  writeFileSync(join(work, 'openssl.cnf'), config);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', String(days), '-config', join(work, 'openssl.cnf'), '-keyout', key, '-out', cert],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  chmodSync(key, 0o600);
} catch (error) {
  const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
  if (e.code === 'ENOENT') fail('openssl was not found: install it (Debian/Ubuntu: apt install openssl; macOS: brew install openssl), or use mkcert (docs/deployment.md "TLS")');
  fail(`openssl could not make the certificate: ${e.stderr?.toString().trim() || e.message}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

process.stdout.write(
  `wrote ${cert} and ${key} (self-signed, ${days} days) for ${[...hosts, ...ips].join(', ')}\n` +
    `start the stack with it:\n  STT_TLS_CERT=${cert} STT_TLS_KEY=${key} npm start\n` +
    'then trust cert.pem where the clients run (docs/deployment.md "TLS").\n',
);
