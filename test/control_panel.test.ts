import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
import { TestClient } from './helpers/ws_client.js';
import { toSrt, toText, TranscriptHistory } from '../control-panel/src/transcript_history.js';

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
/** The end-of-turn silence the panel's settings ask for its own microphone session: longer than the service's, so the wait shows it was applied. */
const PANEL_END_OF_TURN_MS = 2500;

/** Messages from `client` until one matches `wanted` (which is returned). */
async function nextMatching(client: TestClient, wanted: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (;;) {
    const m = await client.next(20_000);
    if (wanted(m)) return m;
  }
}

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
    // The settings a streamer changes, applied to this page's own session (a named one here).
    await page.click('details.settings summary');
    await page.selectOption('#set-language', 'en');
    await page.fill('#set-end-of-turn', String(PANEL_END_OF_TURN_MS));
    await page.fill('#set-sentence-end', String(PANEL_END_OF_TURN_MS));
    await page.fill('#set-session', 'desk');
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
    // The service acknowledged the settings, and the wait shown runs from where the speech ended
    // on the audio the page sent, so it holds the end-of-turn silence the streamer sat through
    // (not speech_end's arrival to the final's: a few ms).
    expect(await page.textContent('#mic-applied')).toBe(`In force: language en · end of turn ${PANEL_END_OF_TURN_MS} ms · after a sentence ${PANEL_END_OF_TURN_MS} ms`);
    expect(Number(await page.getAttribute('.transcripts li[data-final="true"]', 'data-wait-ms'))).toBeGreaterThanOrEqual(PANEL_END_OF_TURN_MS - 100);
    // The level meter heard the voice, and the session list shows the page's own named session live.
    expect(Number(await page.getAttribute('#level', 'data-peak-db'))).toBeGreaterThan(-40);
    await page.waitForSelector('#sessions button[data-session="desk"][data-live="true"]');
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
    expect(Object.fromEntries(url.searchParams)).toEqual({ turns: 'server', early: '1', partials: '1', sample_rate: '16000', encoding: 'f32le', session: 'desk' });
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

  it('watches a named session: its transcript with times, copy, SRT and text export, clear, mute from the panel, the captions URL', async () => {
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: proxy.url });
    await page.fill('#session-name', 'show');
    await page.click('#session-watch');
    await page.waitForSelector('#session-live[data-live="false"]');
    expect(new URL(page.url()).searchParams.get('session')).toBe('show');
    expect(await page.inputValue('#captions-url')).toBe(`${proxy.url}/captions?session=show`);
    // A speaker on the session, its audio sent as fast as the socket takes it: the speech, then the service's end-of-turn silence.
    const speaker = await TestClient.connect(`${proxy.ws}/ws/transcribe?session=show&turns=server&encoding=f32le`);
    await page.waitForSelector('#session-live[data-live="true"]');
    await page.waitForSelector('#sessions button[data-session="show"][data-live="true"]');
    const speech = loadClip('picovoice-leopard/test_en.wav');
    const pcm = new Float32Array(speech.length + 2.3 * SAMPLE_RATE);
    pcm.set(speech);
    speaker.sendAudio(Buffer.from(pcm.buffer), 6400);
    const final = await nextMatching(speaker, (m) => m.type === 'transcript' && m.final !== false);
    expect(final.text).toBe(WORDS);

    await page.waitForSelector('#history li .text');
    expect(await page.textContent('#history li .text')).toBe(WORDS);
    expect(await page.textContent('#history li time')).toMatch(/^\d\d:\d\d:\d\d$/);
    // A listener's estimate of the wait: the silence waited on the session's timeline, plus the answer.
    expect(Number((await page.textContent('#history li .wait'))!.replace(/[^\d]/g, ''))).toBeGreaterThanOrEqual(2000);

    const [srt] = await Promise.all([page.waitForEvent('download'), page.click('#history-srt')]);
    expect(srt.suggestedFilename()).toMatch(/^show-\d{4}-\d\d-\d\d\.srt$/);
    const at = (ms: number) => new Date(ms).toISOString().slice(11, 23).replace('.', ',');
    expect(readFileSync(await srt.path(), 'utf8')).toBe(`1\n${at(final.start_ms as number)} --> ${at(final.end_ms as number)}\n${WORDS}\n`);
    const [text] = await Promise.all([page.waitForEvent('download'), page.click('#history-txt')]);
    const exported = readFileSync(await text.path(), 'utf8');
    expect(exported).toMatch(/^\[\d\d:\d\d:\d\d\] /);
    expect(exported.slice('[00:00:00] '.length)).toBe(`${WORDS}\n`);
    await page.click('#history-copy');
    await expect.poll(() => page.evaluate('navigator.clipboard.readText()')).toBe(exported);

    // The VTuber's own speech, as its brain tells the session, is shown while it lasts.
    expect(await page.textContent('#vtuber')).toBe('VTuber quiet');
    speaker.ws.send(JSON.stringify({ type: 'assistant_speech', state: 'start', text: 'hello there' }));
    await page.locator('#vtuber[data-speaking="true"]', { hasText: 'VTuber speaking: hello there' }).waitFor();
    speaker.ws.send(JSON.stringify({ type: 'assistant_speech', state: 'end' }));
    await page.locator('#vtuber[data-speaking="false"]', { hasText: 'VTuber quiet' }).waitFor();

    // Mute from the panel reaches the speaker's connection; the state comes back to the panel and the list.
    expect(await page.textContent('#mute-toggle')).toBe('Mute');
    await page.click('#mute-toggle');
    await nextMatching(speaker, (m) => m.type === 'mute' && m.muted === true);
    await page.waitForSelector('#session-muted[data-muted="true"]');
    await page.locator('#mute-toggle', { hasText: 'Unmute' }).waitFor();
    expect(((await fetch(`${proxy.url}/api/sessions`).then((r) => r.json())) as { sessions: unknown[] }).sessions).toContainEqual({ name: 'show', live: true, muted: true, listeners: 1 });
    await page.waitForSelector('#sessions button[data-session="show"][data-muted="true"]');

    await page.click('#history-clear');
    expect(await page.locator('#history li').count()).toBe(0);
    await speaker.close();
    await page.waitForSelector('#session-live[data-live="false"]');
    expect(consoleErrors).toEqual([]);
  });

  it('fits an OBS dock 420 px wide, in a dark theme when the system or the choice asks', async () => {
    await page.setViewportSize({ width: 420, height: 900 });
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(420);
    await page.click('button[data-lang="ko"]');
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(420);
    await page.click('button[data-lang="en"]');
    const background = () => page.evaluate('getComputedStyle(document.documentElement).backgroundColor');
    expect(await background()).toBe('rgb(244, 245, 248)');
    await page.emulateMedia({ colorScheme: 'dark' });
    expect(await background()).toBe('rgb(21, 22, 28)');
    await page.selectOption('#theme', 'light');
    expect(await background()).toBe('rgb(244, 245, 248)');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.selectOption('#theme', 'dark');
    expect(await background()).toBe('rgb(21, 22, 28)');
    await page.screenshot({ path: `${artifacts}/control-panel-dock-dark.png`, fullPage: true });
    await page.selectOption('#theme', 'auto');
    await page.setViewportSize({ width: 1100, height: 900 });
  });

  it('shows a stopped backend as down, with the reason', async () => {
    await gpu!.close();
    gpu = undefined;
    await page.waitForSelector('.card[data-backend="gpu"][data-state="down"]', { timeout: 10_000 });
    expect(await page.textContent('.card[data-backend="gpu"] dd:last-child')).toMatch(/unreachable|closed|refused/i);
    await page.locator('#route', { hasText: 'not ready' }).waitFor();
  });
});

describe("a session's transcript as the panel exports it", () => {
  it('numbers SRT entries from 1 on the timeline, and runs on after a new connection restarts it', () => {
    const history = new TranscriptHistory();
    const at = new Date(2026, 11, 5, 9, 8, 7);
    history.add({ seq: 1, text: 'one', start_ms: 1200, end_ms: 3_725_004 }, at);
    history.add({ seq: 2, text: 'two', start_ms: 3_726_000, end_ms: 3_727_500 }, at);
    // A new microphone connection: its timeline starts at 0 again, its lines follow the last one.
    history.add({ seq: 1, text: 'three', start_ms: 500, end_ms: 900 }, at);
    expect(toSrt(history.entries)).toBe(
      '1\n00:00:01,200 --> 01:02:05,004\none\n\n2\n01:02:06,000 --> 01:02:07,500\ntwo\n\n3\n01:02:08,000 --> 01:02:08,400\nthree\n',
    );
    expect(toText(history.entries)).toBe('[09:08:07] one\n[09:08:07] two\n[09:08:07] three\n');
    history.clear();
    expect(toSrt(history.entries)).toBe('');
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
    // One process in both roles, as `npm start` runs it: the detection service is the transcription one.
    proxy = await startTestProxy({ cpu: cpu.url, detect: cpu.url }, { panelDir, apiKeys: [KEY] });
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
    // Its card says both roles; no second card repeats it as the detection service.
    await page.waitForSelector('.card[data-backend="cpu"][data-roles="transcribe detect"]');
    expect(await page.locator('.card').count()).toBe(1);
    expect(await page.textContent('.card[data-backend="cpu"] h3 span')).toBe('CPU transcription + speech detection');
    await page.close();
  });

  it('says the microphone needs https when opened over plain http by a name other than localhost', async () => {
    const page = await browser.newPage({ locale: 'en-US' });
    page.on('dialog', (d) => void d.accept(KEY));
    await page.goto(proxy.url.replace('127.0.0.1', 'panel.test'));
    await page.waitForSelector('.card[data-backend="cpu"][data-state="ready"]');
    // Not a secure context: the browser gives the page no navigator.mediaDevices at all.
    expect(await page.evaluate('[window.isSecureContext, typeof navigator.mediaDevices]')).toEqual([false, 'undefined']);
    const insecure = "The microphone needs https (or localhost): open this page over https — see docs/deployment.md 'TLS'";
    // Said before anyone presses start, and again when they do.
    expect(await page.textContent('#mic-note')).toBe(insecure);
    await page.click('#mic-start');
    await page.waitForSelector('#banner:not([hidden])');
    expect(await page.textContent('#banner')).toBe(insecure);
    await page.waitForSelector('#mic-start:not([disabled])');
    await page.close();
  });
});
