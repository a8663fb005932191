import { existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunningService } from '@vtuber-stt/core';
import { audioPath, fixtureModel } from './helpers/fixtures.js';
import { spawnService, type ServiceProcess } from './helpers/processes.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';

const panelDir = fileURLToPath(new URL('../control-panel/dist', import.meta.url));
const artifacts = fileURLToPath(new URL('../test-artifacts', import.meta.url));
const WORDS = syntheticText(fixtureModel('base'), 20);

describe('control panel in a real browser', () => {
  let cpu: RunningService;
  let gpu: RunningService | undefined;
  let detect: ServiceProcess;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(`${panelDir}/index.html`)) execFileSync('npm', ['run', 'build:panel'], { stdio: 'inherit' });
    [cpu, gpu, detect] = await Promise.all([startTestService(), startTestService(), spawnService('stt/tiny_ws/src/main.ts', { STT_DETECTOR: 'silero' })]);
    proxy = await startTestProxy({ cpu: cpu.url, gpu: gpu.url, detect: detect.url }, { panelDir });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-gpu',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${audioPath('picovoice-leopard/test_en.wav')}`,
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1100, height: 900 }, locale: 'en-US' });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await Promise.all([cpu?.close(), gpu?.close(), detect?.stop()]);
  });

  it('loads with every backend ready and no console errors', async () => {
    await page.goto(proxy.url);
    for (const name of ['cpu', 'gpu', 'detect']) await page.waitForSelector(`.card[data-backend="${name}"][data-state="ready"]`);
    expect(await page.textContent('h1')).toBe('Speech input control panel');
    await page.click('button[data-lang="ko"]');
    expect(await page.textContent('h1')).toBe('음성 입력 제어판');
    await page.click('button[data-lang="en"]');
    expect(consoleErrors).toEqual([]);
  });

  it('flips the GPU toggle, which /api/status reflects', async () => {
    await page.click('#gpu-toggle');
    await expect.poll(async () => (await fetch(`${proxy.url}/api/status`).then((r) => r.json()) as { gpu_enabled: boolean }).gpu_enabled).toBe(true);
    await page.locator('#route', { hasText: 'GPU' }).waitFor();
  });

  it('tests the microphone: speech detected, then a transcript from the real stack', async () => {
    await page.click('#mic-start');
    await page.waitForSelector('#speaking[data-speaking="true"]', { timeout: 20_000 });
    await page.waitForSelector('.transcripts li .text', { timeout: 30_000 });
    const first = await page.textContent('.transcripts li .text');
    expect(first).toBe(WORDS);
    expect(await page.textContent('.transcripts li .latency')).toMatch(/^en · \d+ ms$/);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: `${artifacts}/control-panel.png`, fullPage: true });
    await page.click('#mic-stop');
    expect(consoleErrors).toEqual([]);
  });

  it('shows a stopped backend as down, with the reason', async () => {
    await gpu!.close();
    gpu = undefined;
    await page.waitForSelector('.card[data-backend="gpu"][data-state="down"]', { timeout: 10_000 });
    expect(await page.textContent('.card[data-backend="gpu"] dd:last-child')).toMatch(/unreachable|closed|refused/i);
    await page.locator('#route', { hasText: 'not ready' }).waitFor();
  });
});
