import { createServer } from 'node:net';

/**
 * A port free on the loopback right now: bound as port 0, read, released. Another process could
 * take it before the member binds it (a small race); the member then exits on EADDRINUSE and,
 * failing again on each restart, is given up with that error in its last lines.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A backend's port: the setting when there is one, else a free one. Picked once, before the first
 * start, so a member that is restarted comes back where the proxy already looks for it.
 */
export async function backendPort(name: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const value = env[name];
  if (value === undefined || value === '') return freePort();
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new Error(`${name} must be a port number (1-65535), got "${value}"`);
  return port;
}
