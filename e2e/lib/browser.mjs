// Headless Debian Chromium driven by playwright-core (no browser downloads).

import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export const DEFAULT_TIMEOUT_MS = 15_000;

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

const problems = new WeakMap(); // page -> array of strings

/**
 * Opens a page in `context` that records every console message of type "error" and every
 * uncaught page error, for assertNoConsoleErrors().
 */
export async function newPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(DEFAULT_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(DEFAULT_TIMEOUT_MS);
  const list = [];
  problems.set(page, list);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const loc = msg.location();
    const where = loc && loc.url ? ` (${loc.url}:${loc.lineNumber}:${loc.columnNumber})` : '';
    list.push(`console.error: ${msg.text()}${where} [page ${page.url()}]`);
  });
  page.on('pageerror', (err) => {
    list.push(`pageerror: ${err && err.stack ? err.stack : String(err)} [page ${page.url()}]`);
  });
  return page;
}

/** The errors recorded so far on `page` (a copy). */
export function consoleErrors(page) {
  return [...(problems.get(page) ?? [])];
}

/** Forgets the errors recorded so far on `page`. */
export function clearConsoleErrors(page) {
  const list = problems.get(page);
  if (list) list.length = 0;
}

/**
 * Throws if `page` has recorded any console error or page error.
 * `allow`: array of RegExp; matching messages are ignored (and cleared).
 * The recorded list is cleared either way, so each call checks only what happened since the last.
 */
export function assertNoConsoleErrors(page, { allow = [] } = {}) {
  const list = problems.get(page);
  if (!list) throw new Error('assertNoConsoleErrors: page was not created with newPage()');
  const bad = list.filter((m) => !allow.some((re) => re.test(m)));
  list.length = 0;
  if (bad.length) {
    throw new Error(`${bad.length} console/page error(s):\n  - ${bad.join('\n  - ')}`);
  }
}

/**
 * Adds a CTAP2 platform authenticator (resident keys, user verification, automatic presence)
 * to `page` through the Chrome DevTools Protocol. It lives as long as the page's tab.
 */
export async function addVirtualAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    cdp,
    authenticatorId,
    async credentials() {
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      return credentials;
    },
  };
}
