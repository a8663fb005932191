import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le, type RunningService } from '@vtuber-stt/core';
import type { RunningProxy } from '@vtuber-stt/proxy';
import { fixtureModel, loadClip } from './helpers/fixtures.js';
import { startTestProxy } from './helpers/proxy.js';
import { startTestService } from './helpers/service.js';
import { syntheticModel, syntheticText } from './helpers/synthetic_model.js';
import { TestClient } from './helpers/ws_client.js';

// What the page's functions use, in the browser: declared here only (no DOM types in the project).
declare const document: any;
declare const getComputedStyle: any;
declare const Image: any;

/** A model that says Korean and English: the overlay must draw both. */
const SAY = ' 안녕하세요| hello';
const TEXT = syntheticText(fixtureModel('base'), SAY);
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));

/**
 * The caption overlay (issue 20, item 7) in Chromium, as an OBS browser source loads it: a
 * transparent page that shows a named session's text as it is committed, styled from the query.
 */
describe('captions at /captions for an OBS browser source', () => {
  let service: RunningService & { ws: string };
  let proxy: RunningProxy & { ws: string };
  let browser: Browser;

  beforeAll(async () => {
    service = await startTestService({ model: syntheticModel(fixtureModel('base'), SAY, { layers: 1 }) });
    proxy = await startTestProxy({ cpu: service.url });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  });
  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await service?.close();
  });

  it('draws each committed turn, Korean and English, on a transparent page styled from its query string, and goes on when its speaker reconnects', async () => {
    const page = await browser.newPage({ viewport: { width: 800, height: 300 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${proxy.url}/captions?session=stage&size=48&color=%23ffee00&position=top&fade=0`);
    await page.waitForFunction(() => document.body.dataset.state === 'connected');

    const speaker = await TestClient.connect(`${proxy.ws}/ws/transcribe?session=stage`);
    speaker.sendAudio(speech);
    speaker.flush();
    expect(await speaker.next()).toMatchObject({ type: 'transcript', text: TEXT });
    await page.waitForFunction((t) => document.querySelector('#captions .final')?.textContent === t, TEXT);
    expect(TEXT).toContain('안녕하세요');

    const caption = page.locator('#captions .final');
    expect(await caption.evaluate((el) => getComputedStyle(el).color)).toBe('rgb(255, 238, 0)');
    expect(await caption.evaluate((el) => getComputedStyle(el).fontSize)).toBe('48px');
    const box = (await caption.boundingBox())!;
    expect(box.y).toBeLessThan(150); // position=top
    // Hangul drawn with a font that has it (fonts-nanum / Noto CJK): a Hangul syllable is as wide as a
    // CJK glyph, far wider than a missing-glyph box would make it in a Latin-only font.
    const widths = await page.evaluate(() => {
      const probe = document.createElement('span');
      probe.style.font = getComputedStyle(document.querySelector('#captions')!).font;
      document.body.append(probe);
      const measure = (t: string) => {
        probe.textContent = t;
        return probe.getBoundingClientRect().width;
      };
      const out = { hangul: measure('안녕하세요'), fonts: [...document.fonts].length };
      probe.remove();
      return out;
    });
    expect(widths.hangul).toBeGreaterThan(5 * 48 * 0.8);

    // Transparent everywhere but the text: the top-left corner has alpha 0, the text's pixels do not.
    const png = await page.screenshot({ omitBackground: true });
    const alpha = await page.evaluate(
      async ({ data, text }) => {
        const img = new Image();
        img.src = `data:image/png;base64,${data}`;
        await img.decode();
        const canvas = document.createElement('canvas');
        canvas.width = img.width;
        canvas.height = img.height;
        const g = canvas.getContext('2d')!;
        g.drawImage(img, 0, 0);
        const corner = g.getImageData(0, 0, 1, 1).data[3];
        const region = g.getImageData(Math.round(text.x), Math.round(text.y), Math.max(1, Math.round(text.width)), Math.max(1, Math.round(text.height))).data;
        let opaque = 0;
        for (let i = 3; i < region.length; i += 4) if (region[i]! > 200) opaque++;
        return { corner, opaque };
      },
      { data: png.toString('base64'), text: box },
    );
    expect(alpha.corner).toBe(0);
    expect(alpha.opaque).toBeGreaterThan(200);

    // The microphone's connection is replaced: the overlay, listening to the name, shows its turns too.
    await speaker.close();
    const again = await TestClient.connect(`${proxy.ws}/ws/transcribe?session=stage`);
    again.sendAudio(speech);
    again.flush();
    await again.next();
    await page.waitForFunction(() => document.querySelectorAll('#captions .final').length >= 2);
    expect(errors).toEqual([]);
    await again.close();
    await page.close();
  });

  it('says why when its session name is refused, instead of reconnecting for ever', async () => {
    const page = await browser.newPage();
    await page.goto(`${proxy.url}/captions?session=${encodeURIComponent('no spaces')}`);
    await page.waitForFunction(() => document.body.dataset.state === 'refused');
    expect(await page.textContent('#captions')).toMatch(/captions: .*session must be/);
    await page.close();
  });

  it('serves the page without a key, and refuses none of its own files', async () => {
    for (const path of ['/captions', '/captions/captions.js', '/captions/captions.css']) {
      const r = await fetch(`${proxy.url}${path}`);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-security-policy')).toContain("default-src 'self'");
    }
    expect((await fetch(`${proxy.url}/captions/../package.json`)).status).not.toBe(200);
  });
});
