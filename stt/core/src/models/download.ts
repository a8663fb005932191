import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ServiceError } from '../protocol/errors.js';

export interface Checksums {
  sha256?: string;
  sha1?: string;
}

export interface DownloadProgress {
  received: number;
  total?: number;
  resumedFrom: number;
}

export interface DownloadOptions {
  url: string;
  dest: string;
  checksums: Checksums;
  onProgress?: (p: DownloadProgress) => void;
  fetchImpl?: typeof fetch;
  signal?: AbortSignal;
}

export class ChecksumError extends ServiceError {
  constructor(message: string) {
    super('checksum_mismatch', message);
  }
}

export class DownloadError extends ServiceError {
  constructor(message: string) {
    super('download_failed', message);
  }
}

/**
 * What fetch's bare "fetch failed" stands for: undici keeps the system's reason (no DNS answer,
 * refused, timed out, a certificate) in `cause`.
 */
export function networkCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const known: Record<string, string> = {
    ENOTFOUND: 'the name does not resolve (no network, or no DNS)',
    EAI_AGAIN: 'the name does not resolve (no network, or no DNS)',
    ECONNREFUSED: 'the connection was refused',
    ECONNRESET: 'the connection was reset',
    ETIMEDOUT: 'the connection timed out',
    UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
    ENETUNREACH: 'the network is unreachable',
    EHOSTUNREACH: 'the host is unreachable',
  };
  if (cause?.code && known[cause.code]) return `${known[cause.code]} (${cause.code})`;
  return cause?.message ?? (error as Error).message;
}

/** The partial file sits beside the destination so the final rename is atomic (same filesystem). */
export const partialPath = (dest: string) => `${dest}.partial`;

export async function hashFile(path: string): Promise<{ sha256: string; sha1: string }> {
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  for await (const chunk of createReadStream(path)) {
    sha256.update(chunk as Buffer);
    sha1.update(chunk as Buffer);
  }
  return { sha256: sha256.digest('hex'), sha1: sha1.digest('hex') };
}

export async function verifyFile(path: string, checksums: Checksums): Promise<void> {
  const actual = await hashFile(path);
  if (checksums.sha256 && actual.sha256 !== checksums.sha256.toLowerCase()) {
    throw new ChecksumError(`sha256 mismatch for ${path}: expected ${checksums.sha256}, got ${actual.sha256}`);
  }
  if (checksums.sha1 && actual.sha1 !== checksums.sha1.toLowerCase()) {
    throw new ChecksumError(`sha1 mismatch for ${path}: expected ${checksums.sha1}, got ${actual.sha1}`);
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/**
 * Downloads to `<dest>.partial`, resuming it with an HTTP Range request when a previous
 * attempt was interrupted, verifies the checksums, then renames into place. A file that fails
 * verification is deleted so the next attempt starts clean instead of resuming garbage.
 */
export async function downloadFile(options: DownloadOptions): Promise<void> {
  const { url, dest, checksums, onProgress, signal } = options;
  const fetchImpl = options.fetchImpl ?? fetch;
  const partial = partialPath(dest);
  await mkdir(dirname(dest), { recursive: true });
  let offset = await sizeOf(partial);

  let response: Response;
  try {
    response = await fetchImpl(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, redirect: 'follow', signal });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new DownloadError(`cannot reach ${new URL(url).host} for ${url}: ${networkCause(error)}`);
  }
  if (offset > 0 && response.status === 416) {
    // Already complete on disk: the server has nothing past our offset.
    await response.body?.cancel();
  } else {
    if (offset > 0 && response.status === 200) offset = 0; // server ignored Range: start over
    if (!(response.status === 200 || response.status === 206)) {
      await response.body?.cancel();
      throw new DownloadError(`download of ${url} failed: HTTP ${response.status} ${response.statusText}`);
    }
    if (!response.body) throw new DownloadError(`download of ${url} returned no body`);
    const length = Number(response.headers.get('content-length'));
    const total = Number.isFinite(length) && length > 0 ? offset + length : undefined;
    let received = offset;
    // Written chunk by chunk and awaited, so whatever arrived before a failure is on disk to resume from.
    const file = await open(partial, offset > 0 ? 'a' : 'w');
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        await file.write(chunk);
        received += chunk.length;
        onProgress?.({ received, total, resumedFrom: offset });
      }
    } catch (error) {
      throw new DownloadError(
        `download of ${url} was interrupted at ${received} bytes (${(error as Error).message}); run the same command again to resume`,
      );
    } finally {
      await file.close();
    }
    if (total !== undefined && received < total) {
      throw new DownloadError(`download of ${url} ended early at ${received} of ${total} bytes; run the same command again to resume`);
    }
  }
  try {
    await verifyFile(partial, checksums);
  } catch (error) {
    await unlink(partial).catch(() => undefined);
    throw error;
  }
  await rename(partial, dest);
}
