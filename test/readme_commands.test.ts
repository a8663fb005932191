import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const readme = readFileSync('README.md', 'utf8');
const ciRun = readFileSync('.ci/run', 'utf8');
const readmeCommand = (n: number) => execFileSync('bash', ['.ci/readme_command', String(n)], { encoding: 'utf8' }).trimEnd();

/** The README's first sh block, read here on its own, so a wrong extraction in .ci/readme_command shows. */
const firstShBlock = /```sh\n([\s\S]*?)```/.exec(readme)![1]!.split('\n');

/**
 * A PATH holding only what `.ci/run` and the README's command call: apt-get and npm as stand-ins
 * that write down how they were called (the real ones would install packages as root and run this
 * very test suite again), the real node, bash and coreutils, and sudo only where `withSudo` says.
 */
function standInPath(withSudo: boolean): { path: string; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'ci-path-'));
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  const script = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  script('apt-get', `echo "apt-get $* [DEBIAN_FRONTEND=$DEBIAN_FRONTEND]" >> '${log}'`);
  script('npm', `[ "$1" = --version ] && { echo 10.0.0; exit 0; }; echo "npm $* [audit=$npm_config_audit]" >> '${log}'`);
  if (withSudo) script('sudo', `echo "sudo $*" >> '${log}'; exec "$@"`);
  symlinkSync(process.execPath, join(dir, 'node'));
  for (const tool of ['bash', 'awk', 'dirname', 'mktemp', 'rm', 'cat']) {
    symlinkSync(execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(dir, tool));
  }
  return { path: dir, calls: () => readFileSync(log, 'utf8').trim().split('\n') };
}

describe("the README's two commands", () => {
  it('are found where the README shows them: command 1 sets up and starts, command 2 installs and tests', () => {
    const after = (marker: string) => firstShBlock.slice(firstShBlock.findIndex((l) => l.startsWith(marker)) + 1).find((l) => !l.startsWith('#') && l.trim() !== '');
    expect(readmeCommand(1)).toBe(after('# 1. '));
    expect(readmeCommand(2)).toBe(after('# 2. '));
    expect(readmeCommand(1)).toMatch(/npm start$/);
    expect(readmeCommand(2)).toMatch(/apt-get install -y .*&& npm ci && npm test$/);
    // A missing command is an error, not an empty line for CI to run.
    expect(spawnSync('bash', ['.ci/readme_command', '3'], { encoding: 'utf8' })).toMatchObject({ status: 1, stderr: expect.stringContaining('no command 3') });
  });

  it('parse as shell, and so does .ci/run', () => {
    for (const command of [readmeCommand(1), readmeCommand(2)]) {
      expect(spawnSync('bash', ['-n', '-c', command], { encoding: 'utf8' }), command).toMatchObject({ status: 0, stderr: '' });
    }
    expect(spawnSync('bash', ['-n', '.ci/run'], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' });
  });

  it('.ci/run installs and tests nothing of its own: it runs the command it reads from the README', () => {
    const lines = ciRun.split('\n').filter((l) => !l.trim().startsWith('#'));
    expect(lines.filter((l) => /\bapt-get\b|\bnpm (ci|test|install)\b|\bsudo\b/.test(l))).toEqual([]);
    expect(ciRun).toContain('command=$(.ci/readme_command 2)');
    expect(ciRun).toMatch(/bash -c "\$command"/);
  });

  it("runs the README's test command as root in a container (no sudo): each step once, in order, non-interactive", () => {
    const { path, calls } = standInPath(false);
    const run = spawnSync('bash', ['.ci/run'], { encoding: 'utf8', env: { PATH: path, HOME: process.env.HOME } });
    expect(run.status, run.stderr).toBe(0);
    const packages = /apt-get install -y ([^&]+?) &&/.exec(readmeCommand(2))![1]!;
    expect(packages.split(' ')).toContain('ffmpeg');
    expect(calls()).toEqual([
      'apt-get update [DEBIAN_FRONTEND=noninteractive]',
      `apt-get install -y ${packages} [DEBIAN_FRONTEND=noninteractive]`,
      'npm ci [audit=false]',
      'npm test [audit=false]',
    ]);
    expect(run.stdout).toContain(`+ ${readmeCommand(2)}`);
  });

  it('runs it through sudo as an ordinary user where there is one, and stops at the first step that fails', () => {
    const { path, calls } = standInPath(true);
    const run = spawnSync('bash', ['.ci/run'], { encoding: 'utf8', env: { PATH: path, HOME: process.env.HOME } });
    expect(run.status, run.stderr).toBe(0);
    const sudo = calls().filter((c) => c.startsWith('sudo '));
    expect(sudo.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual(['sudo apt-get update', 'sudo apt-get install']);
    expect(calls().filter((c) => c.startsWith('npm'))).toEqual(['npm ci [audit=false]', 'npm test [audit=false]']);

    // A failing install must fail CI and run no tests.
    const failing = standInPath(false);
    writeFileSync(join(failing.path, 'apt-get'), `#!/bin/bash\necho "apt-get $*" >> '${join(failing.path, 'calls.log')}'\n[ "$1" = install ] && exit 100\nexit 0\n`);
    const failed = spawnSync('bash', ['.ci/run'], { encoding: 'utf8', env: { PATH: failing.path, HOME: process.env.HOME } });
    expect(failed.status).toBe(100);
    expect(failing.calls().some((c) => c.startsWith('npm'))).toBe(false);
  });
});
