import { parseProxyConfig } from './config.js';
import { startProxy, type RunningProxy } from './service.js';

let proxy: RunningProxy | undefined;
try {
  proxy = await startProxy(parseProxyConfig());
} catch (error) {
  if ((error as { code?: string }).code?.startsWith('commander.')) process.exit((error as { exitCode?: number }).exitCode ?? 1);
  process.stderr.write(`error: ${(error as Error).message}\n`);
  process.exit(1);
}
const stop = () => void proxy!.close().finally(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
