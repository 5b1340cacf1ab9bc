// Staff in the browser: enrolment with a password and an authenticator app, and the JSON API
// called with the browser's own session (cookies of the page's context + X-CSRF-Token).

import assert from 'node:assert/strict';

import { totp } from './totp.mjs';

const pathIs = (p) => (url) => url.pathname === p;

/** Clicks `selector` and waits until the page has loaded a URL whose path is `p`. */
export async function clickAndWaitFor(page, selector, p) {
  await Promise.all([page.waitForURL(pathIs(p)), page.click(selector)]);
  assert.equal(new URL(page.url()).pathname, p);
}

export async function text(page, selector) {
  return ((await page.locator(selector).first().textContent()) ?? '').trim();
}

/**
 * From /enrol: sets `password`, enrols an authenticator app and finishes with the recovery
 * codes, ending signed in on /me/security. Returns { totpSecret, totpCode, recoveryCodes }.
 */
export async function enrolPasswordAndTotp(page, password) {
  assert.equal(new URL(page.url()).pathname, '/enrol');
  await page.fill('form#set-password input[name=password]', password);
  await page.fill('form#set-password input[name=password_confirm]', password);
  await clickAndWaitFor(page, 'form#set-password button[type=submit]', '/enrol/factor');

  await clickAndWaitFor(page, 'a#enrol-totp', '/enrol/totp');
  const totpSecret = (await text(page, 'code#totp-secret')).replace(/\s+/g, '').toUpperCase();
  assert.match(totpSecret, /^[A-Z2-7]+=*$/, `code#totp-secret is not base32: ${JSON.stringify(totpSecret)}`);
  const totpCode = totp(totpSecret);
  await page.fill('form#confirm-totp input[name=code]', totpCode);
  await clickAndWaitFor(page, 'form#confirm-totp button[type=submit]', '/enrol/recovery-codes');

  const recoveryCodes = (await page.locator('ul#recovery-codes li').allTextContents()).map((s) => s.trim());
  assert.equal(recoveryCodes.length, 10, `expected 10 recovery codes, got ${JSON.stringify(recoveryCodes)}`);
  await clickAndWaitFor(page, 'form#recovery-codes-done button[type=submit]', '/me/security');
  return { totpSecret, totpCode, recoveryCodes };
}

/** The signed-in page's CSRF token (<meta name="csrf-token">). */
export async function csrfToken(page) {
  const token = await page.locator('meta[name="csrf-token"]').getAttribute('content');
  assert.ok(token, `no <meta name="csrf-token"> on ${page.url()}`);
  return token;
}

/**
 * A JSON API client on `page`'s browser session. Each call answers { status, body } (body
 * parsed as JSON when it is JSON, else the text).
 */
export async function apiClient(page, baseUrl) {
  const csrf = await csrfToken(page);
  async function call(method, apiPath, options = {}) {
    const res = await page.request.fetch(`${baseUrl}${apiPath}`, {
      method,
      headers: { 'X-CSRF-Token': csrf },
      timeout: 15_000,
      maxRedirects: 0,
      ...options,
    });
    const raw = await res.text();
    let body = raw;
    try { body = JSON.parse(raw); } catch { /* not JSON */ }
    return { status: res.status(), body };
  }
  return {
    get: (apiPath) => call('GET', apiPath),
    post: (apiPath, data) => call('POST', apiPath, { data }),
    multipart: (apiPath, multipart) => call('POST', apiPath, { multipart }),
    /** POST that must answer `expected` (default 201); returns the body. */
    async created(apiPath, data, expected = 201) {
      const r = await call('POST', apiPath, { data });
      assert.equal(r.status, expected, `POST ${apiPath} answered ${r.status}: ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
}
