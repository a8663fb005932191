import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';

export type CaptureTool = 'arecord' | 'ffmpeg' | 'sox';

/** Per platform, the tools tried in order: each is common there and needs no build step. */
export const PREFERENCE: Record<string, CaptureTool[]> = {
  linux: ['arecord', 'ffmpeg', 'sox'],
  darwin: ['ffmpeg', 'sox'],
  win32: ['ffmpeg', 'sox'],
};

const INSTALL_HINT: Record<string, string> = {
  linux: 'install one of: alsa-utils (arecord), ffmpeg or sox, e.g. "sudo apt install alsa-utils"',
  darwin: 'install ffmpeg or sox, e.g. "brew install ffmpeg"',
  win32: 'install ffmpeg (e.g. "winget install ffmpeg") and make sure it is on PATH',
};

export class CaptureError extends Error {}

export function onPath(tool: string, env: NodeJS.ProcessEnv = process.env, platform = process.platform): boolean {
  const exts = platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  return (env.PATH ?? '').split(delimiter).some((dir) => dir && exts.some((ext) => existsSync(join(dir, tool + ext))));
}

export function findTool(requested: CaptureTool | 'auto', env: NodeJS.ProcessEnv = process.env, platform = process.platform): CaptureTool {
  const order = requested === 'auto' ? (PREFERENCE[platform] ?? ['ffmpeg', 'sox']) : [requested];
  const found = order.find((tool) => onPath(tool, env, platform));
  if (found) return found;
  if (requested !== 'auto') throw new CaptureError(`${requested} was asked for (--capture) but is not on PATH`);
  throw new CaptureError(`no audio capture tool found on PATH: ${INSTALL_HINT[platform] ?? 'install ffmpeg or sox'}; or stream a file with --input FILE`);
}

/** The command that writes 16 kHz mono s16le from the microphone to stdout. */
export function captureCommand(tool: CaptureTool, device: string | undefined, platform = process.platform): { command: string; args: string[]; env?: Record<string, string> } {
  const raw = ['-ac', '1', '-ar', '16000', '-f', 's16le', '-'];
  switch (tool) {
    case 'arecord':
      return { command: 'arecord', args: ['-q', '-f', 'S16_LE', '-r', '16000', '-c', '1', '-t', 'raw', ...(device ? ['-D', device] : [])] };
    case 'sox':
      // sox picks the device from AUDIODEV.
      return { command: 'sox', args: ['-q', '-d', '-t', 'raw', '-r', '16000', '-e', 'signed-integer', '-b', '16', '-c', '1', '-'], env: device ? { AUDIODEV: device } : undefined };
    case 'ffmpeg': {
      const input =
        platform === 'darwin' ? ['-f', 'avfoundation', '-i', `:${device ?? '0'}`] : platform === 'win32' ? ['-f', 'dshow', '-i', `audio=${device ?? 'default'}`] : ['-f', 'pulse', '-i', device ?? 'default'];
      return { command: 'ffmpeg', args: ['-hide_banner', '-loglevel', 'error', ...input, ...raw] };
    }
  }
}

/** What the tool says the input devices are (its own listing, printed as is). */
export function listDevices(tool: CaptureTool, platform = process.platform): string {
  const run = (command: string, args: string[]) => {
    const r = spawnSync(command, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || `(${command} printed nothing)`;
  };
  switch (tool) {
    case 'arecord':
      return run('arecord', ['-L']);
    case 'ffmpeg':
      if (platform === 'darwin') return run('ffmpeg', ['-hide_banner', '-f', 'avfoundation', '-list_devices', 'true', '-i', '']);
      if (platform === 'win32') return run('ffmpeg', ['-hide_banner', '-list_devices', 'true', '-f', 'dshow', '-i', 'dummy']);
      return onPath('pactl') ? run('pactl', ['list', 'short', 'sources']) : 'ffmpeg reads PulseAudio sources; list them with "pactl list short sources"';
    case 'sox':
      return 'sox uses the default device; choose another with --device NAME (passed as AUDIODEV)';
  }
}

export function startCapture(tool: CaptureTool, device: string | undefined, base: NodeJS.ProcessEnv = process.env): ChildProcessByStdio<null, Readable, Readable> {
  const { command, args, env } = captureCommand(tool, device);
  return spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } });
}
