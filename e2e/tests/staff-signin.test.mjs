// The staff sign-in journey in a real browser:
//   first administrator set-up -> password -> passkey -> recovery codes -> sign out -> passkey sign-in
//   -> create a clinician -> clinician enrols with password + TOTP -> password + TOTP sign-in
//   -> a TOTP code is refused the second time -> no secret ever appears in the server's output.
//
// Needs the server binary ($SEALROOM_BIN or ../target/debug/sealroom) and /usr/bin/chromium.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startServer, stripAnsi } from '../lib/server.mjs';
import {
  launchBrowser,
  newPage,
  assertNoConsoleErrors,
  addVirtualAuthenticator,
} from '../lib/browser.mjs';
import { totp, otpauthSecret, base32Decode } from '../lib/totp.mjs';
import { clickAndWaitFor, text } from '../lib/staff.mjs';
import { stepper } from '../lib/steps.mjs';

const RESULTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'test-results');

const ADMIN = {
  email: 'admin@example.test',
  displayName: 'Ada Admin',
  password: 'correct horse battery staple violet 1987',
  passkeyName: 'Laptop',
};
const CLEO = {
  email: 'cleo@example.test',
  displayName: 'Cleo Clinician',
  role: 'clinician',
  password: 'quiet lantern harbour 7203 mosaic',
};

let server;
let browser;
let currentPage = null; // the page a failing step is reported against

// Everything that must never appear in the server's output.
const secrets = {
  passwords: [ADMIN.password, CLEO.password],
  totpSecret: null,
  totpCodes: [],
  recoveryCodes: [],
};

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
});

const step = stepper({
  prefix: 'staff-signin', resultsDir: RESULTS_DIR, currentPage: () => currentPage, currentServer: () => server,
});

async function assertMySecurity(page) {
  assert.equal(new URL(page.url()).pathname, '/me/security');
  const h1 = await text(page, 'h1');
  assert.match(h1, /My security/, `h1 is ${JSON.stringify(h1)}`);
}

async function readRecoveryCodes(page) {
  const codes = (await page.locator('ul#recovery-codes li').allTextContents()).map((s) => s.trim());
  assert.equal(codes.length, 10, `expected 10 recovery codes, got ${codes.length}: ${JSON.stringify(codes)}`);
  assert.ok(codes.every((c) => c.length >= 8), `a recovery code is too short: ${JSON.stringify(codes)}`);
  assert.equal(new Set(codes).size, 10, 'recovery codes are not all different');
  secrets.recoveryCodes.push(...codes);
  return codes;
}

async function signOut(page) {
  await clickAndWaitFor(page, 'form#signout button[type=submit]', '/signin');
}

async function setPassword(page, password) {
  assert.equal(new URL(page.url()).pathname, '/enrol');
  await page.fill('form#set-password input[name=password]', password);
  await page.fill('form#set-password input[name=password_confirm]', password);
  await clickAndWaitFor(page, 'form#set-password button[type=submit]', '/enrol/factor');
}

test('staff sign-in journey: set-up, passkey, TOTP, sign-in, replay refused, no secrets logged', { timeout: 240_000 }, async (t) => {
  const adminContext = await browser.newContext();
  const admin = await newPage(adminContext);
  currentPage = admin;
  let authenticator;

  await step('server prints a set-up link on the browser origin', async () => {
    assert.equal(new URL(server.setupLink).origin, new URL(server.baseUrl).origin,
      `set-up link ${server.setupLink} is not on ${server.baseUrl}`);
  });

  // ---- First administrator: set-up, password, passkey, recovery codes ----

  await step('set-up link shows form#setup and leads to /enrol', async () => {
    await admin.goto(server.setupLink);
    await admin.fill('form#setup input[name=email]', ADMIN.email);
    await admin.fill('form#setup input[name=display_name]', ADMIN.displayName);
    await clickAndWaitFor(admin, 'form#setup button[type=submit]', '/enrol');
    assertNoConsoleErrors(admin);
  });

  await step('admin sets a password', async () => {
    await setPassword(admin, ADMIN.password);
    assertNoConsoleErrors(admin);
  });

  await step('admin enrols a passkey named "Laptop"', async () => {
    authenticator = await addVirtualAuthenticator(admin);
    await admin.fill('input[name=passkey_name]', ADMIN.passkeyName);
    await clickAndWaitFor(admin, 'button#enrol-passkey', '/enrol/recovery-codes');
    const creds = await authenticator.credentials();
    assert.equal(creds.length, 1, `virtual authenticator holds ${creds.length} credentials`);
    assertNoConsoleErrors(admin);
  });

  await step('admin sees 10 recovery codes and finishes enrolment', async () => {
    await readRecoveryCodes(admin);
    await clickAndWaitFor(admin, 'form#recovery-codes-done button[type=submit]', '/me/security');
    await assertMySecurity(admin);
    const passkeys = await admin.locator('ul#passkeys li').allTextContents();
    assert.ok(passkeys.some((s) => s.includes(ADMIN.passkeyName)),
      `ul#passkeys does not list "${ADMIN.passkeyName}": ${JSON.stringify(passkeys)}`);
    assertNoConsoleErrors(admin);
  });

  await step('admin signs out', async () => {
    await signOut(admin);
    assertNoConsoleErrors(admin);
  });

  await step('admin signs in with the passkey (email only)', async () => {
    await admin.fill('form#signin input[name=email]', ADMIN.email);
    await clickAndWaitFor(admin, 'button#passkey-signin', '/me/security');
    await assertMySecurity(admin);
    assertNoConsoleErrors(admin);
  });

  await step('admin signs in again with password, then the passkey as second factor', async () => {
    await signOut(admin);
    await admin.fill('form#signin input[name=email]', ADMIN.email);
    await admin.fill('form#signin input[name=password]', ADMIN.password);
    await clickAndWaitFor(admin, 'button#signin-submit', '/signin/second-factor');
    await clickAndWaitFor(admin, 'button#passkey-second-factor', '/me/security');
    await assertMySecurity(admin);
    assertNoConsoleErrors(admin);
  });

  await step('admin adds an authenticator app after enrolment (fresh sign-in counts as step-up)', async () => {
    await admin.goto(`${server.baseUrl}/me/totp`);
    assert.equal(new URL(admin.url()).pathname, '/me/totp');
    const secret = (await text(admin, 'code#totp-secret')).replace(/\s+/g, '').toUpperCase();
    secrets.adminTotpSecret = secret;
    const code = totp(secret, Math.floor(Date.now() / 1000));
    secrets.totpCodes.push(code);
    await admin.fill('form#confirm-totp input[name=code]', code);
    await clickAndWaitFor(admin, 'form#confirm-totp button[type=submit]', '/me/security');
    assert.match(await text(admin, '#totp-status'), /authenticator app is set up/);
    assertNoConsoleErrors(admin);
  });

  await step('admin removes the passkey, keeping the authenticator app', async () => {
    assert.equal(await admin.locator('ul#passkeys li').count(), 1);
    await clickAndWaitFor(admin, 'ul#passkeys li form button[type=submit]', '/me/security');
    assert.equal(await admin.locator('ul#passkeys li').count(), 0, 'the passkey is still listed');
    assert.match(await text(admin, '#totp-status'), /authenticator app is set up/);
    assertNoConsoleErrors(admin);
  });

  // ---- Admin creates a clinician ----

  const enrolmentLink = await step('admin creates a clinician and gets an enrolment link', async () => {
    await admin.goto(`${server.baseUrl}/admin/users`);
    assert.equal(new URL(admin.url()).pathname, '/admin/users');
    await admin.fill('form#create-user input[name=email]', CLEO.email);
    await admin.fill('form#create-user input[name=display_name]', CLEO.displayName);
    await admin.selectOption('form#create-user select[name=role]', CLEO.role);
    await admin.click('form#create-user button[type=submit]');
    await admin.locator('#enrolment-link').waitFor({ state: 'visible' });
    const link = await text(admin, '#enrolment-link');
    let url;
    assert.doesNotThrow(() => { url = new URL(link); }, `#enrolment-link text is not a URL: ${JSON.stringify(link)}`);
    assert.equal(url.origin, new URL(server.baseUrl).origin, `enrolment link ${link} is not on ${server.baseUrl}`);
    assertNoConsoleErrors(admin);
    return link;
  });

  // ---- Clinician enrols with password + TOTP, in a fresh browser context ----

  const cleoContext = await browser.newContext();
  const cleo = await newPage(cleoContext);
  currentPage = cleo;

  await step('clinician accepts the enrolment link', async () => {
    await cleo.goto(enrolmentLink);
    await clickAndWaitFor(cleo, 'form#accept-enrolment button[type=submit]', '/enrol');
    assertNoConsoleErrors(cleo);
  });

  await step('clinician sets a password', async () => {
    await setPassword(cleo, CLEO.password);
    assertNoConsoleErrors(cleo);
  });

  await step('clinician chooses TOTP and sees QR code, URI and secret', async () => {
    await clickAndWaitFor(cleo, 'a#enrol-totp', '/enrol/totp');
    const qr = cleo.locator('img#totp-qr');
    await qr.waitFor({ state: 'visible' });
    // decode() rejects for a broken image.
    await qr.evaluate((img) => img.decode());
    const uri = await text(cleo, 'code#totp-uri');
    assert.ok(uri.startsWith('otpauth://totp/'), `code#totp-uri is ${JSON.stringify(uri)}`);
    const secret = (await text(cleo, 'code#totp-secret')).replace(/\s+/g, '').toUpperCase();
    assert.match(secret, /^[A-Z2-7]+=*$/, `code#totp-secret is not base32: ${JSON.stringify(secret)}`);
    assert.ok(base32Decode(secret).length >= 16, 'TOTP secret is shorter than 128 bits (RFC 4226 minimum)');
    assert.equal(otpauthSecret(uri).replace(/=+$/, '').toUpperCase(), secret.replace(/=+$/, ''),
      'the otpauth URI and code#totp-secret disagree');
    secrets.totpSecret = secret;
    assertNoConsoleErrors(cleo);
  });

  await step('clinician confirms TOTP with the current code', async () => {
    const code = totp(secrets.totpSecret, Math.floor(Date.now() / 1000));
    secrets.totpCodes.push(code);
    await cleo.fill('form#confirm-totp input[name=code]', code);
    await clickAndWaitFor(cleo, 'form#confirm-totp button[type=submit]', '/enrol/recovery-codes');
    assertNoConsoleErrors(cleo);
  });

  await step('clinician sees 10 recovery codes and finishes enrolment', async () => {
    await readRecoveryCodes(cleo);
    await clickAndWaitFor(cleo, 'form#recovery-codes-done button[type=submit]', '/me/security');
    await assertMySecurity(cleo);
    assertNoConsoleErrors(cleo);
  });

  await step('clinician signs out', async () => {
    await signOut(cleo);
    assertNoConsoleErrors(cleo);
  });

  // ---- Password + TOTP sign-in ----

  async function passwordThenSecondFactor() {
    await cleo.fill('form#signin input[name=email]', CLEO.email);
    await cleo.fill('form#signin input[name=password]', CLEO.password);
    await clickAndWaitFor(cleo, 'button#signin-submit', '/signin/second-factor');
  }

  let signinCode;
  let signinStep;
  await step('clinician signs in with password and the next TOTP code', async () => {
    await passwordThenSecondFactor();
    assertNoConsoleErrors(cleo);
    // The enrolment code's step is spent; the next step's code is inside the server's ±1 window.
    const when = Math.floor(Date.now() / 1000) + 30;
    signinStep = Math.floor(when / 30);
    signinCode = totp(secrets.totpSecret, when);
    secrets.totpCodes.push(signinCode);
    await cleo.fill('form#totp input[name=code]', signinCode);
    await clickAndWaitFor(cleo, 'form#totp button[type=submit]', '/me/security');
    await assertMySecurity(cleo);
    assertNoConsoleErrors(cleo);
  });

  // ---- The same code is refused a second time ----

  await step('clinician signs out again', async () => {
    await signOut(cleo);
    assertNoConsoleErrors(cleo);
  });

  await step('the same TOTP code is refused on a second sign-in', async () => {
    await passwordThenSecondFactor();
    assertNoConsoleErrors(cleo);
    const nowStep = Math.floor(Date.now() / 1000 / 30);
    if (nowStep - signinStep > 1) {
      t.diagnostic(`replay check ran ${nowStep - signinStep} steps after the code's step: ` +
        'the code would be refused as expired too, so this run does not isolate replay protection');
    }
    await cleo.fill('form#totp input[name=code]', signinCode);
    await Promise.all([
      cleo.waitForNavigation({ waitUntil: 'load' }),
      cleo.click('form#totp button[type=submit]'),
    ]);
    assert.equal(new URL(cleo.url()).pathname, '/signin/second-factor',
      'a replayed TOTP code was not kept on the second-factor page');
    const alert = cleo.locator('[role=alert]').first();
    await alert.waitFor({ state: 'visible' });
    assert.notEqual(((await alert.textContent()) ?? '').trim(), '', '[role=alert] is empty');
    // A refusal answered with a 4xx status makes Chromium log "Failed to load resource" for the document.
    assertNoConsoleErrors(cleo, {
      allow: [/Failed to load resource: the server responded with a status of 4\d\d .*\/signin\/second-factor/],
    });
  });

  // ---- Nothing secret in the server's output ----

  await step('server output contains no password, TOTP secret, TOTP code or recovery code', async () => {
    const raw = server.output();
    const clean = stripAnsi(raw);
    // 6-digit codes could collide with the microseconds of log timestamps: drop those first.
    const noTimestamps = clean.replace(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<ts>');
    const found = [];
    const check = (haystack, label, value) => {
      if (value && haystack.includes(value)) found.push(`${label} (${JSON.stringify(value)})`);
    };
    for (const pw of secrets.passwords) {
      for (const hay of [raw, clean]) {
        check(hay, 'password', pw);
        check(hay, 'password, form-encoded', pw.replaceAll(' ', '+'));
        check(hay, 'password, percent-encoded', encodeURIComponent(pw));
      }
    }
    if (secrets.adminTotpSecret) {
      for (const hay of [raw, clean]) check(hay, 'admin TOTP secret', secrets.adminTotpSecret.replace(/=+$/, ''));
    }
    const s = secrets.totpSecret;
    assert.ok(s, 'the TOTP secret was never read');
    const key = base32Decode(s);
    for (const hay of [raw, clean]) {
      check(hay, 'TOTP secret', s.replace(/=+$/, ''));
      check(hay.toLowerCase(), 'TOTP secret, lower case', s.replace(/=+$/, '').toLowerCase());
      check(hay.toLowerCase(), 'TOTP key, hex', key.toString('hex'));
      check(hay, 'TOTP key, base64', key.toString('base64').replace(/=+$/, ''));
    }
    for (const code of secrets.totpCodes) {
      if (new RegExp(`(?<!\\d)${code}(?!\\d)`).test(noTimestamps)) found.push(`TOTP code (${code})`);
    }
    for (const rc of secrets.recoveryCodes) {
      check(clean, 'recovery code', rc);
    }
    assert.deepEqual(found, [], `secrets found in the server output: ${found.join(', ')}`);
  });

  await cleoContext.close();
  await adminContext.close();
});
