import { commandLineExitCode, CONFIGURATION_EXIT_CODE } from '@vtuber-stt/core';
import { parseProxyConfig, type ProxyConfig } from './config.js';
import { startProxy, type RunningProxy } from './service.js';

let proxy: RunningProxy | undefined;
let config: ProxyConfig | undefined;
try {
  config = parseProxyConfig();
  proxy = await startProxy(config);
} catch (error) {
  const commandLine = commandLineExitCode(error);
  if (commandLine !== undefined) process.exit(commandLine);
  process.stderr.write(`error: ${(error as Error).message}\n`);
  // Settings that do not parse stay wrong however often the proxy is started again.
  process.exit(config ? 1 : CONFIGURATION_EXIT_CODE);
}
const stop = () => void proxy!.close().finally(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
