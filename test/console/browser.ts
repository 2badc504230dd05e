/**
 * Debian's Chromium driven by playwright-core, for the console's end-to-end tests: headless, no
 * sandbox (containers), nothing that phones home, a fresh profile per run. Every request the pages
 * make is recorded, so that a test can prove none left loopback.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

export interface Browser {
  readonly context: BrowserContext;
  /** Every URL requested by any page of the context, in order. */
  readonly requests: string[];
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  const requests: string[] = [];
  context.on('request', (request) => requests.push(request.url()));
  return {
    context,
    requests,
    async newPage(viewport) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Runs in the page: moves to another view of the console (tests are compiled without the DOM's types). */
export async function go(page: Page, hash: string): Promise<void> {
  await page.evaluate((h) => {
    (globalThis as unknown as { location: { hash: string } }).location.hash = h;
  }, hash);
}

/** Opens the console and signs in with a token; resolves once the shell is shown. */
export async function signIn(page: Page, base: string, token: string, hash = '#/'): Promise<void> {
  await page.goto(`${base}/console/${hash}`);
  await page.fill('[data-field=token]', token);
  await page.click('[data-test=login]');
  await page.waitForSelector('[data-test=who]');
}

/** Clicks a control, checks its confirmation dialog names the change, and applies it. */
export async function confirmControl(page: Page, selector: string, mentions: string): Promise<string> {
  await page.locator('#notice').evaluate((notice: { hidden: boolean; textContent: string | null }) => {
    notice.hidden = true;
    notice.textContent = '';
  });
  await page.click(selector);
  const dialog = page.locator('[data-test=confirm-dialog]');
  await dialog.waitFor();
  const text = await dialog.innerText();
  if (!text.includes(mentions)) throw new Error(`confirmation does not mention "${mentions}": ${text}`);
  await dialog.locator('[data-test=confirm]').click();
  await page.waitForSelector('[data-test=notice]:not([hidden])');
  return page.locator('[data-test=notice]').innerText();
}
