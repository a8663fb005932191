import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { encodeWav, SAMPLE_RATE, type RunningService } from '@vtuber-stt/core';
import { FinalClock } from '@vtuber-stt/core/turns';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { spawnService, type ServiceProcess } from './helpers/processes.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticText } from './helpers/synthetic_model.js';

const panelDir = fileURLToPath(new URL('../control-panel/dist', import.meta.url));
const artifacts = fileURLToPath(new URL('../test-artifacts', import.meta.url));
const WORDS = syntheticText(fixtureModel('base'), 20);

/**
 * What the fake microphone plays, looped: a sentence, then 3 s of silence. With the services'
 * end of turn at 2 s, the speculative decode has long finished when the turn ends, so its early
 * text is shown before the final; and the detector's own hang-over ends the turn as usual.
 */
function fakeMicrophone(): string {
  const speech = loadClip('picovoice-leopard/test_en.wav');
  const pcm = new Float32Array(speech.length + 3 * SAMPLE_RATE);
  pcm.set(speech);
  const file = join(mkdtempSync(join(tmpdir(), 'panel-mic-')), 'microphone.wav');
  writeFileSync(file, encodeWav(pcm, SAMPLE_RATE));
  return file;
}
const SLOW_TURNS = { STT_END_OF_TURN_MS: '2000', STT_SENTENCE_END_MS: '2000' };

// One visit to the page, in order even under --sequence.shuffle: each step acts on the page the last one left.
describe('control panel in a real browser', { shuffle: false }, () => {
  let cpu: RunningService;
  let gpu: RunningService | undefined;
  let detect: ServiceProcess;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const sockets: string[] = [];

  beforeAll(async () => {
    if (!existsSync(`${panelDir}/index.html`)) execFileSync('npm', ['run', 'build:panel'], { stdio: 'inherit' });
    [cpu, gpu, detect] = await Promise.all([startTestService({}, SLOW_TURNS), startTestService({}, SLOW_TURNS), spawnService('stt/tiny_ws/src/main.ts', { STT_DETECTOR: 'silero' })]);
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
        `--use-file-for-fake-audio-capture=${fakeMicrophone()}`,
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1100, height: 900 }, locale: 'en-US' });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    page.on('websocket', (ws) => sockets.push(ws.url()));
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

  it('tests the microphone with server-side turns by default: speaking, live partials, early text in grey, then the final', async () => {
    expect(await page.inputValue('#mic-mode')).toBe('server');
    // Every text the list showed as early (speculative), however briefly. (A string: this
    // project's Node typings have no DOM.)
    // And every partial (stable part, dimmed rest, their colours) and final, in the order shown.
    await page.evaluate(`{
      const seen = (window.early = []);
      const shown = (window.shown = []);
      new MutationObserver(() => {
        for (const el of document.querySelectorAll('.transcripts li[data-final="false"] .text')) {
          const css = getComputedStyle(el);
          seen.push({ text: el.textContent, style: css.fontStyle + ' ' + css.color });
        }
        for (const li of document.querySelectorAll('.transcripts li[data-final="partial"]')) {
          const stable = li.querySelector('.text .stable');
          const rest = li.querySelector('.text .unstable');
          shown.push({ kind: 'partial', text: li.querySelector('.text').textContent, stable: stable.textContent, stableColor: getComputedStyle(stable).color, restColor: getComputedStyle(rest).color });
        }
        for (const li of document.querySelectorAll('.transcripts li[data-final="true"]')) shown.push({ kind: 'final', text: li.querySelector('.text').textContent });
      }).observe(document.getElementById('transcripts'), { subtree: true, childList: true, attributes: true, characterData: true });
    }`);
    sockets.length = 0;
    await page.click('#mic-start');
    await page.waitForSelector('#speaking[data-speaking="true"]', { timeout: 20_000 });
    await page.waitForSelector('.transcripts li[data-final="true"] .text', { timeout: 30_000 });
    expect(await page.textContent('.transcripts li[data-final="true"] .text')).toBe(WORDS);
    expect(await page.textContent('.transcripts li[data-final="true"] .latency')).toMatch(/^en · \d+ ms$/);
    // The early text came first, greyed and in italics, in the line the final then took over.
    const early = await page.evaluate<{ text: string; style: string }[]>('window.early');
    expect(early.length).toBeGreaterThan(0);
    expect(early[0]!.text).toBe(WORDS);
    expect(early[0]!.style).toMatch(/^italic rgb\(136, 136, 153\)$/);
    expect(await page.locator('.transcripts li').count()).toBe(1);
    // Partial text came before the final, in the same line: the agreed-on words in the text's own
    // colour, the rest dimmed.
    type Shown = { kind: 'partial' | 'final'; text: string; stable?: string; stableColor?: string; restColor?: string };
    const shown = await page.evaluate<Shown[]>('window.shown');
    const firstFinal = shown.findIndex((s) => s.kind === 'final');
    const partials = shown.filter((s, i) => s.kind === 'partial' && (firstFinal < 0 || i < firstFinal));
    expect(partials.length).toBeGreaterThan(0);
    expect(partials.every((p) => p.text.startsWith(p.stable!))).toBe(true);
    expect(partials.map((p) => p.text)).toContain(WORDS);
    expect(partials[0]!.stableColor).toBe('rgb(29, 31, 36)');
    expect(partials[0]!.restColor).toBe('rgb(153, 153, 170)');
    // The end of the turn was heard by the service: the light went off with speech_end.
    await page.waitForSelector('#speaking[data-speaking="false"]', { timeout: 10_000 });
    // One socket, server turns with early text and partials, in the AudioContext's format.
    expect(sockets).toHaveLength(1);
    const url = new URL(sockets[0]!);
    expect(url.pathname).toBe('/ws/transcribe');
    expect(Object.fromEntries(url.searchParams)).toEqual({ turns: 'server', early: '1', partials: '1', sample_rate: '16000', encoding: 'f32le' });
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: `${artifacts}/control-panel.png`, fullPage: true });
    await page.click('#mic-stop');
    await page.waitForSelector('#mic-start:not([disabled])', { timeout: 10_000 });
    expect(consoleErrors).toEqual([]);
  });

  it('tests the microphone with client-side turns (/ws/detect and <flush>) when chosen', async () => {
    const before = await page.locator('.transcripts li[data-final="true"]').count();
    sockets.length = 0;
    await page.selectOption('#mic-mode', 'detect');
    await page.click('#mic-start');
    await page.waitForSelector('#speaking[data-speaking="true"]', { timeout: 20_000 });
    await expect.poll(() => page.locator('.transcripts li[data-final="true"]').count(), { timeout: 30_000, interval: 250 }).toBeGreaterThan(before);
    expect(await page.textContent('.transcripts li[data-final="true"] .text')).toBe(WORDS);
    expect(await page.textContent('.transcripts li[data-final="true"] .latency')).toMatch(/^en · \d+ ms$/);
    expect(sockets.map((u) => new URL(u).pathname).sort()).toEqual(['/ws/detect', '/ws/transcribe']);
    expect(sockets.every((u) => !new URL(u).searchParams.has('turns'))).toBe(true);
    await page.click('#mic-stop');
    await page.waitForSelector('#mic-start:not([disabled])', { timeout: 10_000 });
    await page.selectOption('#mic-mode', 'server');
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

describe('latency per utterance (FinalClock, as the panel and the client use it)', () => {
  it('pairs each answer with its own utterance by seq, so an error answering one does not shift the others', () => {
    const clock = new FinalClock();
    clock.end(1, 1000);
    clock.end(2, 1500);
    // Flush 1 is answered by an error carrying its seq; flush 2's latency is still its own.
    expect(clock.settle(1, 1100)).toBe(100);
    expect(clock.settle(2, 1800)).toBe(300);
    expect(clock.waiting).toBe(0);
  });

  it('knows nothing of an utterance whose end it did not see', () => {
    const clock = new FinalClock();
    clock.end(3, 10);
    expect(clock.settle(4, 20)).toBeUndefined();
    expect(clock.waiting).toBe(1);
  });
});

describe('control panel in front of a stack that needs an API key', () => {
  const KEY = 'panel-test-key-0123456789';
  let cpu: RunningService;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(`${panelDir}/index.html`)) execFileSync('npm', ['run', 'build:panel'], { stdio: 'inherit' });
    cpu = await startTestService({ apiKeys: [KEY] });
    proxy = await startTestProxy({ cpu: cpu.url }, { panelDir, apiKeys: [KEY] });
    // panel.test: a name that is not localhost, as another machine on the network reaches the stack.
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP panel.test 127.0.0.1'] });
  });
  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await cpu?.close();
  });

  it('asks for the key once (again only when the one given is refused), keeps it, and shows the stack with it', async () => {
    const page = await browser.newPage({ locale: 'en-US' });
    const asked: string[] = [];
    const answers = ['a-wrong-key-000000000000', KEY];
    page.on('dialog', (d) => {
      asked.push(d.message());
      void d.accept(answers.shift() ?? '');
    });
    await page.goto(proxy.url);
    await page.waitForSelector('.card[data-backend="cpu"][data-state="ready"]');
    expect(asked).toEqual(['This stack needs an API key. Enter it (it is kept in this browser):', 'That API key was refused. Enter it again:']);
    expect(await page.evaluate('localStorage.getItem("vtuber-stt-api-key")')).toBe(KEY);
    // Kept: a reload asks nothing.
    await page.reload();
    await page.waitForSelector('.card[data-backend="cpu"][data-state="ready"]');
    expect(asked).toHaveLength(2);
    await page.close();
  });

  it('says the microphone needs https when opened over plain http by a name other than localhost', async () => {
    const page = await browser.newPage({ locale: 'en-US' });
    page.on('dialog', (d) => void d.accept(KEY));
    await page.goto(proxy.url.replace('127.0.0.1', 'panel.test'));
    await page.waitForSelector('.card[data-backend="cpu"][data-state="ready"]');
    // Not a secure context: the browser gives the page no navigator.mediaDevices at all.
    expect(await page.evaluate('[window.isSecureContext, typeof navigator.mediaDevices]')).toEqual([false, 'undefined']);
    await page.click('#mic-start');
    await page.waitForSelector('#banner:not([hidden])');
    expect(await page.textContent('#banner')).toBe("The microphone needs https (or localhost): open this page over https — see docs/deployment.md 'TLS'");
    await page.waitForSelector('#mic-start:not([disabled])');
    await page.close();
  });
});
