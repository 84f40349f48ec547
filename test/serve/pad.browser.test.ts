/**
 * The drawing pad end to end in Debian's chromium, driven by playwright-core: draw with the
 * mouse (and once with touch), see a prediction and its bars, click the right digit, find
 * the correction in the store and the session counter updated; then say ✓ for the next one.
 * And a page on an --allowed-origin predicting and saving across origins (the browser's own
 * CORS preflight), while a page elsewhere cannot. Screenshots go to /tmp/digits-pad-*.png for
 * a person to look at.
 *
 * Needs /usr/bin/chromium (CI: `apt-get update && apt-get install -y chromium`); without it
 * the test is skipped with a message saying so.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { loadServedEnsemble } from '../../src/serve/ensemble.js';
import { decodeImage } from '../../src/serve/image-input.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { makeRun, oneAsPixels } from './helpers.js';

/** Debian's chromium; DIGITS_CHROMIUM points elsewhere (e.g. to check the skip). */
const CHROMIUM = process.env.DIGITS_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`pad.browser.test.ts: SKIPPED: ${CHROMIUM} is absent (install it with: apt-get update && apt-get install -y chromium)`);

let root: string;
let server: RunningServer;
let context: BrowserContext;
let correctionsFile: string;

beforeAll(async () => {
  if (!hasChromium) return;
  await initEngine({ backend: 'wasm', ortKernels: false });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-pad-'));
  const runDir = await makeRun(root, [
    { name: 'a', preset: 'mlp', seed: 1 },
    { name: 'b', preset: 'mlp', seed: 2 },
  ]);
  correctionsFile = path.join(root, 'store', 'pad.jsonl');
  server = await startServer({ ensemble: await loadServedEnsemble(runDir), port: 0, correctionsFile });
  context = await chromium.launchPersistentContext(path.join(root, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    hasTouch: true,
    viewport: { width: 900, height: 640 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Draws a "7" with the mouse: a top bar, then the diagonal, each as many small moves. */
async function drawSeven(page: Page): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!;
  const at = (u: number, v: number) => [box.x + u * box.width, box.y + v * box.height] as const;
  await page.mouse.move(...at(0.25, 0.22));
  await page.mouse.down();
  await page.mouse.move(...at(0.75, 0.22), { steps: 12 });
  await page.mouse.move(...at(0.45, 0.82), { steps: 16 });
  await page.mouse.up();
}

/** Draws a "1" with a finger (CDP touch events → pointer events of type touch). */
async function drawOneByTouch(page: Page): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!;
  const cdp = await context.newCDPSession(page);
  const x = box.x + box.width * 0.5;
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y: box.y + box.height * 0.18 }] });
  for (let i = 1; i <= 16; i++) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x, y: box.y + box.height * (0.18 + (0.64 * i) / 16) }] });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await cdp.detach();
}

async function predicted(page: Page): Promise<number> {
  await page.waitForSelector('body[data-state="predicted"]', { timeout: 20_000 });
  const label = await page.locator('#label').textContent();
  expect(label).toMatch(/^[0-9]$/);
  return Number(label);
}

test.skipIf(!hasChromium)(
  `draw, see the prediction, correct it, find it in the store and the counter updated${hasChromium ? '' : ` (SKIPPED: ${CHROMIUM} is absent)`}`,
  async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    // (a refused request also names itself and the server's answer: the console says only "status of 400")
    page.on('response', async (r) => {
      if (r.status() >= 400) errors.push(`${r.status()} ${r.request().method()} ${r.url()} ${await r.text().catch(() => '')}`);
    });
    await page.goto(`${server.url}/`);
    expect(await page.locator('#judged').textContent()).toBe('0');

    // Given a digit drawn with the mouse
    await drawSeven(page);
    // Then a prediction appears with ten bars summing to ~100% and the 28×28 the ensemble saw
    const first = await predicted(page);
    const percents = await page.locator('#bars .pct').allTextContents();
    expect(percents).toHaveLength(10);
    expect(percents.reduce((sum, p) => sum + Number.parseFloat(p), 0)).toBeCloseTo(100, -1);
    expect(await page.locator('#members').textContent()).toMatch(/members: a \d, b \d/);
    await page.screenshot({ path: '/tmp/digits-pad-predicted.png' });

    // When it is wrong: click the right digit (any other than the prediction; these members are untrained)
    const right = (first + 3) % 10;
    await page.locator(`#digits button[data-digit="${right}"]`).click();
    // (locators, not waitForFunction: the page's CSP forbids string evaluation)
    await page.locator('#judged').filter({ hasText: /^1$/ }).waitFor();
    // Then the correction is in the store: the given label, the prediction, the drawn 28×28 digit
    const lines = (await readFile(correctionsFile, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const saved = JSON.parse(lines[0]!) as { label: number; predicted: number; image: number[] };
    expect(saved).toMatchObject({ label: right, predicted: first });
    expect(saved.image).toHaveLength(784);
    expect(saved.image.filter((v) => v > 0).length).toBeGreaterThan(40);
    // and the counter shows 0 right out of 1 judged; the pad is clear again
    expect(await page.locator('#correct').textContent()).toBe('0');
    expect(await page.locator('#accuracy').textContent()).toBe('(0.0%)');
    expect(await page.locator('#status').textContent()).toMatch(new RegExp(`saved: it was a ${right}`));
    expect(await page.locator('body').getAttribute('data-state')).toBe('idle');

    // When the next digit (drawn by touch) is judged right with Enter
    await drawOneByTouch(page);
    await predicted(page);
    await page.keyboard.press('Enter');
    await page.locator('#judged').filter({ hasText: /^2$/ }).waitFor();
    // Then the counter reads 1 / 2 and nothing more was stored
    expect(await page.locator('#correct').textContent()).toBe('1');
    expect(await page.locator('#accuracy').textContent()).toBe('(50.0%)');
    expect((await readFile(correctionsFile, 'utf8')).trimEnd().split('\n')).toHaveLength(1);

    // A third digit, left showing for the screenshot of the whole page
    await drawSeven(page);
    await predicted(page);
    await page.screenshot({ path: '/tmp/digits-pad-session.png', fullPage: true });
    expect(errors).toEqual([]);
  },
  90_000,
);

test.skipIf(!hasChromium)(
  `keyboard and double clicks: Enter on a focused digit saves that digit, Enter on Clear clears, the pad's keys work beside the TTA box, and a double click saves one correction${hasChromium ? '' : ` (SKIPPED: ${CHROMIUM} is absent)`}`,
  async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    const stored = async () => (await readFile(correctionsFile, 'utf8').catch(() => '')).trimEnd().split('\n').filter(Boolean).length;
    const before = await stored();
    const judged = () => page.locator('#judged').textContent();

    // Given a drawn digit, When a keyboard user tabs to another digit's button and presses Enter
    await drawSeven(page);
    const first = await predicted(page);
    const other = (first + 4) % 10;
    await page.focus(`#digits button[data-digit="${other}"]`);
    await page.keyboard.press('Enter');
    await page.locator('#judged').filter({ hasText: /^1$/ }).waitFor();
    // Then it is saved as that digit, not counted as right (Enter had meant "it was right" whatever had focus)
    expect(await page.locator('#correct').textContent()).toBe('0');
    expect(await page.locator('#status').textContent()).toMatch(new RegExp(`saved: it was a ${other}`));
    expect(await stored()).toBe(before + 1);

    // When Enter is pressed on the focused Clear button, Then the pad clears and nothing is judged
    await drawSeven(page);
    await predicted(page);
    await page.focus('#clear');
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-state="idle"]');
    expect(await judged()).toBe('1');

    // When the TTA box has been clicked, Then the digit keys still judge
    await drawSeven(page);
    const third = await predicted(page);
    await page.click('#tta');
    await predicted(page);
    await page.keyboard.press(String((third + 1) % 10));
    await page.locator('#judged').filter({ hasText: /^2$/ }).waitFor();
    expect(await stored()).toBe(before + 2);

    // When another digit is double-clicked, Then one correction is saved and one judgement counted
    await drawSeven(page);
    const fourth = await predicted(page);
    await page.dblclick(`#digits button[data-digit="${(fourth + 2) % 10}"]`);
    await page.locator('#judged').filter({ hasText: /^3$/ }).waitFor();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await judged()).toBe('3');
    expect(await stored()).toBe(before + 3);
    await page.close();
  },
  90_000,
);

test.skipIf(!hasChromium)(
  `a tap is a dot: it shows, and it is predicted without a refused request${hasChromium ? '' : ` (SKIPPED: ${CHROMIUM} is absent)`}`,
  async () => {
    // (canvas draws nothing for a zero-length line, round caps or not: a tap once posted a blank PNG, a 400)
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
    await page.goto(`${server.url}/`);
    const pad = page.locator('#pad');
    const box = (await pad.boundingBox())!;
    // Given a single tap (down and up at one point, no move)
    await page.mouse.click(box.x + box.width * 0.5, box.y + box.height * 0.4);
    // Then it is predicted, and the pad shows a dot
    await predicted(page);
    const shot = decodeImage(await pad.screenshot(), 'the pad');
    let dark = 0;
    for (let i = 0; i < shot.data.length; i += 4) if (shot.data[i]! < 128) dark++;
    expect(dark).toBeGreaterThan(100);
    expect(errors).toEqual([]);
    await page.close();
  },
  60_000,
);

test.skipIf(!hasChromium)(
  `on a phone (360×640, touch) the pad, the label, ✓ and every digit button fit the screen, with no sideways scroll${hasChromium ? '' : ` (SKIPPED: ${CHROMIUM} is absent)`}`,
  async () => {
    // (the label was at 572 px and the digits at 978–1070 px: scrolled to after every drawing)
    const page = await context.newPage();
    await page.setViewportSize({ width: 360, height: 640 });
    await page.goto(`${server.url}/`);
    // Given a 1 drawn with a finger
    await drawOneByTouch(page);
    await predicted(page);
    await page.screenshot({ path: '/tmp/digits-pad-phone.png' });
    // Then, unscrolled, everything needed to judge it lies within the 640 px
    const scroll = await page.evaluate(() => {
      const page = globalThis as unknown as { scrollY: number; document: { documentElement: { scrollWidth: number } } };
      return [page.scrollY, page.document.documentElement.scrollWidth];
    });
    expect(scroll).toEqual([0, 360]);
    for (const selector of ['#pad', '#label', '#right', '#digits button[data-digit="0"]', '#digits button[data-digit="9"]']) {
      const box = (await page.locator(selector).boundingBox())!;
      expect(box.y + box.height, selector).toBeLessThanOrEqual(640);
      expect(box.x + box.width, selector).toBeLessThanOrEqual(360);
    }
    // and the pad is still large enough to draw on
    expect((await page.locator('#pad').boundingBox())!.width).toBeGreaterThanOrEqual(240);
    await page.close();
  },
  60_000,
);

/** A blank page at http://127.0.0.2:<port>/ (another origin than the server's 127.0.0.1): another site's page. */
async function otherSite(): Promise<{ origin: string; close: () => Promise<void> }> {
  const site = http.createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'));
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.2', resolve));
  return { origin: `http://127.0.0.2:${(site.address() as AddressInfo).port}`, close: () =>
      new Promise((resolve) => {
        site.close(() => resolve());
        // (the browser keeps its connections alive)
        site.closeAllConnections();
      }),
  };
}

test.skipIf(!hasChromium)(
  `a page on an --allowed-origin predicts and saves across origins (the browser preflights); a page elsewhere cannot${hasChromium ? '' : ` (SKIPPED: ${CHROMIUM} is absent)`}`,
  async () => {
    const allowed = await otherSite();
    const foreign = await otherSite();
    const file = path.join(root, 'store', 'cross-origin.jsonl');
    const api = await startServer({ ensemble: await loadServedEnsemble(path.join(root, 'run'), { workers: 0 }), port: 0, correctionsFile: file, allowedOrigins: [allowed.origin], token: 'cross-origin-token' });
    const page = await context.newPage();
    try {
      // What a page does: predict (JSON), then save the correction with the bearer token; both need a preflight
      const predictAndSave = ({ url, image }: { url: string; image: number[] }) =>
        (async () => {
          try {
            const prediction = await fetch(`${url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: [image] }) });
            const { predictions } = (await prediction.json()) as { predictions: Array<{ label: number }> };
            const predicted = predictions[0]!.label;
            const saved = await fetch(`${url}/v1/corrections`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer cross-origin-token' }, body: JSON.stringify({ image, label: (predicted + 1) % 10, predicted }) });
            return { status: saved.status, body: (await saved.json()) as Record<string, unknown> };
          } catch (error) {
            return { failed: String(error) };
          }
        })();
      // Given the page on the allowed origin
      await page.goto(`${allowed.origin}/`);
      // When it predicts and saves, Then the browser lets both through and the correction is stored
      const answer = await page.evaluate(predictAndSave, { url: api.url, image: oneAsPixels() });
      expect(answer).toMatchObject({ status: 201, body: { saved: true } });
      expect((await readFile(file, 'utf8')).trimEnd().split('\n')).toHaveLength(1);
      // Given a page elsewhere, Then its browser refuses to send (the preflight grants nothing) and nothing more is stored
      await page.goto(`${foreign.origin}/`);
      const refused = await page.evaluate(predictAndSave, { url: api.url, image: oneAsPixels() });
      expect(refused).toMatchObject({ failed: expect.stringMatching(/TypeError: Failed to fetch/) });
      expect((await readFile(file, 'utf8')).trimEnd().split('\n')).toHaveLength(1);
    } finally {
      await page.close();
      await api.close();
      await allowed.close();
      await foreign.close();
    }
  },
  90_000,
);
