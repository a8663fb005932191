import { Command, Option } from 'commander';
import { z } from 'zod';

/**
 * One setting: the environment variable (Docker-friendly), the flag that mirrors it, what it
 * means, and its zod schema, which coerces the text, checks it, and holds its default. A
 * service's settings are one table of these, read and checked in one pass (`readSettings`), so
 * a setting cannot exist without its flag, its check, or its place in `--help`.
 */
export interface Setting<T extends z.ZodType = z.ZodType> {
  env: string;
  /** `--name <value>`; the key in the table is what the value is returned under. */
  flag: string;
  help: string;
  schema: T;
}

export const setting = <T extends z.ZodType>(env: string, flag: string, help: string, schema: T): Setting<T> => ({ env, flag, help, schema });

export type SettingsTable = Record<string, Setting>;
export type SettingsOf<T extends SettingsTable> = { [K in keyof T]: z.output<T[K]['schema']> };

/** Values as text arrive from variables and flags; these read them. */
export const integer = (min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number<string>({ error: 'must be a number' }).int('must be a whole number').min(min).max(max);
export const decimal = (min = -Infinity, max = Infinity) => z.coerce.number<string>({ error: 'must be a number' }).min(min).max(max);
export const fraction = () => z.coerce.number<string>({ error: 'must be a number' }).gt(0, 'must be between 0 and 1').lt(1, 'must be between 0 and 1');
export const onOff = () =>
  z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => ['1', 'true', 'on', 'yes', '0', 'false', 'off', 'no'].includes(v), 'must be on or off')
    .transform((v) => ['1', 'true', 'on', 'yes'].includes(v));
/** A comma or space separated list. */
export const list = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .transform((v) => v.split(/[\s,]+/).filter(Boolean))
    .pipe(z.array(item));

export class SettingsError extends Error {}

/**
 * The exit status of a process stopped by its own configuration (sysexits' EX_CONFIG): a wrong
 * setting, a model that is not there, a device that is not there. A restart would meet the same
 * error, so `npm start`'s supervisor stops the stack with the message instead of restarting.
 */
export const CONFIGURATION_EXIT_CODE = 78;

/**
 * The exit status for an error commander threw while reading the command line, undefined for any
 * other error: 0 after --help or --version, else a configuration error (an unknown or bad flag
 * is as permanent as a bad setting, so a supervisor must not restart it).
 */
export function commandLineExitCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; exitCode?: number };
  if (typeof e?.code !== 'string' || !e.code.startsWith('commander.')) return undefined;
  return e.exitCode === 0 ? 0 : CONFIGURATION_EXIT_CODE;
}

/**
 * Reads a table from `env` (standing in for process.env, so tests pass their own) and argv: the
 * flag wins over the variable, an empty variable (compose's `${X:-}`) counts as unset. Every
 * value is checked by its schema at once; the error names each variable that is wrong.
 * `--help` prints every setting with its variable and default, through commander.
 */
export function readSettings<T extends SettingsTable>(name: string, description: string, table: T, argv: readonly string[], env: NodeJS.ProcessEnv): SettingsOf<T> {
  const program = new Command(name).description(description).exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const attribute = new Map<string, string>();
  for (const [key, s] of Object.entries(table)) {
    const option = new Option(s.flag, `${s.help} (env ${s.env})`);
    const fallback = defaultOf(s.schema);
    if (fallback !== undefined) option.default(fallback);
    program.addOption(option);
    attribute.set(key, option.attributeName());
  }
  program.parse(argv as string[]);
  const given = program.opts<Record<string, unknown>>();
  const raw: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(table)) {
    const fromFlag = program.getOptionValueSource(attribute.get(key)!) === 'cli' ? given[attribute.get(key)!] : undefined;
    const fromEnv = env[s.env] === '' ? undefined : env[s.env];
    raw[key] = fromFlag ?? fromEnv;
  }
  const shape = Object.fromEntries(Object.entries(table).map(([k, s]) => [k, s.schema]));
  const parsed = z.object(shape).safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const s = table[String(i.path[0])];
      const value = raw[String(i.path[0])];
      return `${s ? `${s.env} (${s.flag.split(' ')[0]})` : i.path.join('.')}: ${i.message}${value !== undefined ? ` (got "${String(value)}")` : ''}`;
    });
    throw new SettingsError(`${name}: invalid settings: ${problems.join('; ')}`);
  }
  return parsed.data as SettingsOf<T>;
}

/** The default a schema holds, for --help. */
function defaultOf(schema: z.ZodType): unknown {
  return schema instanceof z.ZodDefault ? (schema.def.defaultValue as unknown) : undefined;
}
