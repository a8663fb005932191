import { Option, type Command } from 'commander';

/** A flag mirrored by an environment variable (Docker-friendly); the flag wins. */
export function envOption(flags: string, description: string, envName: string, parse?: (value: string) => unknown): Option {
  const o = new Option(flags, `${description} (env ${envName})`).env(envName);
  return parse ? o.argParser(parse) : o;
}

export const intArg = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer (got "${value}")`);
  return n;
};

export const numberArg = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number (got "${value}")`);
  return n;
};

export const switchArg = (name: string) => (value: string) => {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  throw new Error(`${name} must be on or off (got "${value}")`);
};

/**
 * Parses argv with `env` standing in for process.env (commander reads variables from there),
 * so tests can pass their own environment. Errors and --help exit through commander's codes.
 */
export function parseWithEnv(program: Command, argv: readonly string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  program.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const saved = process.env;
  // An empty variable (compose's `${X:-}`) means "not set", not "set to nothing".
  process.env = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  try {
    program.parse(argv as string[]);
  } finally {
    process.env = saved;
  }
  return program.opts<Record<string, unknown>>();
}
