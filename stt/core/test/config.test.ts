import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { commandLineExitCode, CONFIGURATION_EXIT_CODE, parseServiceConfig, serviceSettings, SettingsError } from '../src/index.js';

const transcribe = { name: 't', port: 1, model: 'base', device: 'cpu' as const };
const detect = { ...transcribe, role: 'detect' as const, model: 'tiny', modelEnv: 'STT_TINY_MODEL' };

describe('service configuration', () => {
  it('leaves a core free for the detector and gives the detector one thread', () => {
    expect(parseServiceConfig(transcribe, ['node', 'x'], {}).threads).toBe(Math.max(1, Math.min(8, availableParallelism() - 1)));
    expect(parseServiceConfig(detect, ['node', 'x'], {}).threads).toBe(1);
  });

  it('an unknown or bad flag is a configuration error (exit 78, not restarted); --help is not', () => {
    const exitOf = (argv: string[]) => {
      try {
        parseServiceConfig(transcribe, ['node', 'x', ...argv], {});
      } catch (error) {
        return commandLineExitCode(error);
      }
      return 'parsed';
    };
    const stderr = process.stderr.write;
    const stdout = process.stdout.write;
    process.stderr.write = process.stdout.write = (() => true) as typeof process.stderr.write;
    try {
      expect(exitOf(['--no-such-flag'])).toBe(CONFIGURATION_EXIT_CODE);
      expect(exitOf(['--threads'])).toBe(CONFIGURATION_EXIT_CODE);
      expect(exitOf(['--help'])).toBe(0);
    } finally {
      process.stderr.write = stderr;
      process.stdout.write = stdout;
    }
    expect(commandLineExitCode(new Error('model missing'))).toBeUndefined();
  });

  it('reads variables, lets flags win, and treats an empty variable as unset', () => {
    expect(parseServiceConfig(transcribe, ['node', 'x'], { STT_THREADS: '3' }).threads).toBe(3);
    expect(parseServiceConfig(transcribe, ['node', 'x', '--threads', '5'], { STT_THREADS: '3' }).threads).toBe(5);
    expect(parseServiceConfig(detect, ['node', 'x'], { STT_THREADS: '' }).threads).toBe(1);
    expect(parseServiceConfig(detect, ['node', 'x'], { STT_TINY_MODEL: 'tiny.en', STT_MODEL: 'base' }).model).toBe('tiny.en');
  });

  it("reads the VTuber's-own-voice defaults, and refuses a policy that does not exist", () => {
    expect(parseServiceConfig(transcribe, ['node', 'x'], {}).assistant).toEqual({ policy: 'barge_in', tailMs: 300 });
    expect(parseServiceConfig(transcribe, ['node', 'x'], { STT_ASSISTANT_POLICY: 'ignore', STT_ASSISTANT_TAIL_MS: '800' }).assistant).toEqual({ policy: 'ignore', tailMs: 800 });
    expect(() => parseServiceConfig(transcribe, ['node', 'x'], { STT_ASSISTANT_POLICY: 'mute' })).toThrow(/STT_ASSISTANT_POLICY \(--assistant-policy\)/);
  });

  it('keeps the tuned hysteresis gap when only the start threshold is set', () => {
    const c = parseServiceConfig(detect, ['node', 'x'], { STT_DETECT_THRESHOLD: '0.6' });
    expect(c.tracker.threshold).toBe(0.6);
    expect(c.tracker.negThreshold).toBeCloseTo(0.5, 10);
  });
});

describe('one schema for every setting', () => {
  it('checks every value in one pass and names each variable that is wrong, with what it got', () => {
    const attempt = () => parseServiceConfig(transcribe, ['node', 'x'], { STT_THREADS: 'many', STT_VAD: 'maybe', PORT: '70000', STT_LANGUAGE: 'english!' });
    expect(attempt).toThrow(SettingsError);
    let message = '';
    try {
      attempt();
    } catch (error) {
      message = (error as Error).message;
    }
    for (const name of ['STT_THREADS (--threads)', 'STT_VAD (--vad): must be on or off (got "maybe")', 'PORT (--port)', 'STT_LANGUAGE (--language)']) expect(message).toContain(name);
    expect(message).toContain('(got "many")');
  });

  it('has a flag for STT_GPU_VARIANT, read through the schema like every other', () => {
    expect(parseServiceConfig(transcribe, ['node', 'x'], {}).gpuVariant).toBe('cuda');
    expect(parseServiceConfig(transcribe, ['node', 'x'], { STT_GPU_VARIANT: 'vulkan' }).gpuVariant).toBe('vulkan');
    expect(parseServiceConfig(transcribe, ['node', 'x', '--gpu-variant', 'cuda'], { STT_GPU_VARIANT: 'vulkan' }).gpuVariant).toBe('cuda');
    expect(() => parseServiceConfig(transcribe, ['node', 'x'], { STT_GPU_VARIANT: 'metal' })).toThrow(/STT_GPU_VARIANT/);
  });

  it('reads on/off switches and lists', () => {
    expect(parseServiceConfig(transcribe, ['node', 'x'], { STT_AUDIO_CTX: 'off' }).audioCtx).toBe(false);
    expect(parseServiceConfig(transcribe, ['node', 'x'], { STT_ROLES: 'transcribe, detect' }).roles).toEqual(['transcribe', 'detect']);
    expect(() => parseServiceConfig(transcribe, ['node', 'x'], { STT_ROLES: 'transcribe,listen' })).toThrow(/STT_ROLES/);
  });

  it('documents every variable in docs/configuration.md, which names none that does not exist', () => {
    const reference = readFileSync(fileURLToPath(new URL('../../../docs/configuration.md', import.meta.url)), 'utf8');
    const settings = serviceSettings(transcribe);
    const envs = new Set(Object.values(settings).map((s) => s.env));
    // The service configuration table: every setting is a row, every variable it lists is a setting.
    const table = reference.slice(reference.indexOf('\n## Services\n'), reference.indexOf('\n## Models\n'));
    for (const env of envs) expect(table, env).toContain(`\`${env}\``);
    const listed = [...table.matchAll(/^\| `([A-Z_]+)`(?:, `([A-Z_]+)`)?/gm)].flatMap((m) => [m[1]!, m[2]].filter(Boolean) as string[]);
    expect(listed.length).toBeGreaterThan(20);
    for (const env of listed) expect(envs, env).toContain(env);
    for (const s of Object.values(settings)) expect(s.flag).toMatch(/^--[a-z-]+ <[^>]+>$/);
  });
});
