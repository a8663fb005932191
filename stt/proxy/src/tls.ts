import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { SettingsError } from '@vtuber-stt/core';

/** A certificate (chain) and its private key, PEM, as the proxy's HTTPS listener takes them. */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

/**
 * Reads STT_TLS_CERT and STT_TLS_KEY: both or neither. Everything that can be wrong with them
 * (one without the other, a file that cannot be read, a key that is not the certificate's) is
 * said at start, naming the variable, rather than at a client's first handshake.
 */
export function loadTls(certPath: string | undefined, keyPath: string | undefined): TlsFiles | undefined {
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath) {
    const [given, missing] = certPath ? ['STT_TLS_CERT', 'STT_TLS_KEY'] : ['STT_TLS_KEY', 'STT_TLS_CERT'];
    throw new SettingsError(`stt_proxy: invalid settings: ${missing}: must be set with ${given} (HTTPS needs both the certificate and its key; see docs/deployment.md "TLS")`);
  }
  const read = (variable: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new SettingsError(`stt_proxy: invalid settings: ${variable}: ${path} cannot be read (${(error as Error).message})`);
    }
  };
  const files = { cert: read('STT_TLS_CERT', certPath), key: read('STT_TLS_KEY', keyPath) };
  try {
    createSecureContext(files);
  } catch (error) {
    throw new SettingsError(
      `stt_proxy: invalid settings: STT_TLS_CERT/STT_TLS_KEY: ${certPath} and ${keyPath} are not a PEM certificate and its private key (${(error as Error).message})`,
    );
  }
  return files;
}
