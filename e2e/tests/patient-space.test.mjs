// The patient journey in a real browser, with accessibility checks by axe-core:
//   staff set up the hospital and enrol (password + authenticator app) -> reception registers and
//   admits a patient, verifies their e-mail address and registers a test -> the
//   laboratory uploads the result -> the clinician releases it -> the patient is notified (with
//   nothing about them in the message) -> reception issues an access slip -> the patient, on a
//   phone-sized screen, activates the space, chooses a password and e-mail codes, reads and
//   downloads the result, sees who looked at their data, switches to French, signs out and in
//   again, changes to a passkey -> an invitation by e-mail opens the patient's lasting space
//   (no slip), and a forgotten password is recovered online with two codes -> two colleagues and
//   the patient converse with a file, live -> a doctor outside opens an e-mailed link with the
//   access code the clinician was shown, reads and replies with a file -> every page visited
//   passes axe (WCAG 2.2 AA) -> no secret and no planted patient data in the server's output.
//
// Needs the server binary ($SEALROOM_BIN or ../target/debug/sealroom), /usr/bin/chromium and
// <repo>/target/py/bin/python with aiosmtpd (tools/python-deps.sh).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { AxeBuilder } from '@axe-core/playwright';

import { startServer, stripAnsi } from '../lib/server.mjs';
import { launchBrowser, newPage, assertNoConsoleErrors, addVirtualAuthenticator } from '../lib/browser.mjs';
import { startSmtpSink, codeAfter } from '../lib/smtp.mjs';
import { apiClient, clickAndWaitFor, enrolPasswordAndTotp, text } from '../lib/staff.mjs';
import { stepper } from '../lib/steps.mjs';

const RESULTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'test-results');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

const ADMIN = { email: 'admin@example.test', displayName: 'Ada Admin', password: 'violet harbour 4471 copper lantern' };
const RECEPTION = {
  email: 'desk@example.test', displayName: 'Rita Reception', role: 'reception',
  password: 'amber meadow 2290 quiet pylon',
};
const CLINICIAN = {
  email: 'doc@example.test', displayName: 'Cleo Clinician', role: 'clinician',
  password: 'silver orchard 8812 dusty kite',
};
const NURSE = {
  email: 'nurse@example.test', displayName: 'Nina Nurse', role: 'nurse',
  password: 'copper valley 3381 gentle owl',
};
const LAB = {
  email: 'lab@example.test', displayName: 'Luca Laboratory', role: 'laboratory',
  password: 'granite willow 5530 paper moth',
};

// Planted patient data: distinctive strings that must never leak into mail or logs.
const PATIENT = {
  family: 'Plantedfamily',
  given: 'Plantedgiven',
  birthDate: '1961-03-14',
  email: 'plantedmail-7c3e@example.org',
  secondEmail: 'plantedsecond-2b9d@example.org',
  password: 'tangerine glacier 6093 woollen ferry',
  newPassword: 'marble lighthouse 8215 quiet meadow',
};
const RESULT_TITLE = 'Ferritin planted-title 212 ug/L';
const RESULT_FILENAME = 'ferritin.pdf';
const RESULT_BYTES = Buffer.from('%PDF-1.4\n% Sealroom e2e ferritin result 7f3a\n%%EOF\n');
const WRONG_ACTIVATION_CODE = 'AAAA-AAAA-AAAA-AAAA';

let server;
let sink;
let browser;
let currentPage = null; // the page a failing step is reported against

// Everything that must never appear in the server's output (filled in as the journey goes).
const secrets = {
  passwords: [ADMIN.password, RECEPTION.password, CLINICIAN.password, NURSE.password, LAB.password, PATIENT.password, PATIENT.newPassword],
  activationSecret: null,
  invitationCode: null,
  mailCodes: [], // contact verification and sign-in codes read from the sink
  totpCodes: [],
  staffSecrets: [], // authenticator-app secrets and recovery codes of the staff
};

function keepStaffSecrets({ totpSecret, totpCode, recoveryCodes }) {
  secrets.totpCodes.push(totpCode);
  secrets.staffSecrets.push(totpSecret.replace(/=+$/, ''), ...recoveryCodes);
}

// Every axe violation seen, per page; asserted empty at the end so that one run reports all.
const axeFindings = [];

before(async () => {
  sink = await startSmtpSink();
  server = await startServer({ env: { SEALROOM_MAIL__SMTP_URL: sink.url } });
  browser = await launchBrowser();
}, { timeout: 60_000 });

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  await sink?.stop();
}, { timeout: 30_000 });

const step = stepper({
  prefix: 'patient-space', resultsDir: RESULTS_DIR, currentPage: () => currentPage, currentServer: () => server,
});

/** Runs axe on the page as it is now; records and prints every violation under `label`. */
async function axe(page, label) {
  const results = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  for (const v of results.violations) {
    const nodes = v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html, summary: n.failureSummary }));
    axeFindings.push({ page: label, url: page.url(), id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, nodes });
    console.log(`axe  ${label} (${page.url()}): ${v.id} [${v.impact}] ${v.help}`);
    for (const n of nodes) console.log(`       ${n.target}\n         ${n.html}\n         ${(n.summary ?? '').replace(/\n/g, '\n         ')}`);
  }
  // axe found the page's content at all (an empty or blank page would pass vacuously).
  assert.ok(results.passes.length > 0, `axe found nothing to check on ${label}`);
}

/** Submits a form that the server refuses with a 4xx page (no redirect), and waits for that page. */
async function submitRefused(page, selector) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
    page.click(selector),
  ]);
  await page.waitForLoadState('load');
  return response;
}

// A refusal answered with a 4xx status makes Chromium log "Failed to load resource" for the document.
const refusedLoad = (p) => new RegExp(`Failed to load resource: the server responded with a status of 4\\d\\d .*${p}`);

async function htmlLang(page) {
  return page.locator('html').getAttribute('lang');
}

/** Enrols a staff member from their enrolment link in a fresh browser context; returns their page and API. */
async function enrolStaff(person, link) {
  const context = await browser.newContext();
  const page = await newPage(context);
  currentPage = page;
  await page.goto(link);
  await clickAndWaitFor(page, 'form#accept-enrolment button[type=submit]', '/enrol');
  keepStaffSecrets(await enrolPasswordAndTotp(page, person.password));
  assert.match(await text(page, 'h1'), /My security/);
  assertNoConsoleErrors(page);
  return { context, page, api: await apiClient(page, server.baseUrl) };
}

test('patient journey: slip, set-up, e-mail codes, results, history, French, sign-in again, a passkey, axe on every page',
  { timeout: 170_000 }, async () => {
    const staffContexts = [];

    // ---- Administrator: set-up, the hospital, staff accounts ----

    const adminContext = await browser.newContext();
    staffContexts.push(adminContext);
    const admin = await newPage(adminContext);
    currentPage = admin;

    const adminApi = await step('administrator sets up with a password and an authenticator app', async () => {
      await admin.goto(server.setupLink);
      await admin.fill('form#setup input[name=email]', ADMIN.email);
      await admin.fill('form#setup input[name=display_name]', ADMIN.displayName);
      await clickAndWaitFor(admin, 'form#setup button[type=submit]', '/enrol');
      keepStaffSecrets(await enrolPasswordAndTotp(admin, ADMIN.password));
      assertNoConsoleErrors(admin);
      return apiClient(admin, server.baseUrl);
    });

    const departments = await step('administrator creates the care, laboratory and administration departments', async () => {
      const make = async (name, kind) => {
        const d = await adminApi.created('/api/v1/departments', { name, kind });
        assert.equal(typeof d.id, 'string', JSON.stringify(d));
        return d.id;
      };
      return {
        internalMedicine: await make('Internal medicine', 'care'),
        laboratory: await make('Central laboratory', 'laboratory'),
        desk: await make('Admissions desk', 'administration'),
      };
    });

    const links = await step('administrator creates reception, clinician and laboratory accounts with assignments', async () => {
      const out = {};
      for (const [key, person, department] of [
        ['reception', RECEPTION, departments.desk],
        ['clinician', CLINICIAN, departments.internalMedicine],
        ['nurse', NURSE, departments.internalMedicine],
        ['lab', LAB, departments.laboratory],
      ]) {
        const created = await adminApi.created('/api/v1/users',
          { email: person.email, display_name: person.displayName, role: person.role });
        const link = new URL(created.enrolment_link);
        assert.equal(link.origin, new URL(server.baseUrl).origin, `enrolment link ${link} is not on ${server.baseUrl}`);
        await adminApi.created(`/api/v1/users/${created.user.id}/assignments`,
          { department_id: department, role: person.role });
        out[key] = link.href;
      }
      return out;
    });

    // ---- Staff enrol, each in their own browser ----

    const reception = await step('reception enrols (password + authenticator app) and is signed in', async () =>
      enrolStaff(RECEPTION, links.reception));
    const clinician = await step('clinician enrols (password + authenticator app) and is signed in', async () =>
      enrolStaff(CLINICIAN, links.clinician));
    const nurse = await step('nurse enrols (password + authenticator app) and is signed in', async () =>
      enrolStaff(NURSE, links.nurse));
    const lab = await step('laboratory enrols (password + authenticator app) and is signed in', async () =>
      enrolStaff(LAB, links.lab));
    staffContexts.push(reception.context, clinician.context, nurse.context, lab.context);

    // ---- The patient's care, through the staff's browser sessions ----

    const patient = await step('reception registers and admits the patient to internal medicine', async () => {
      const p = await reception.api.created('/api/v1/patients', {
        family_name: PATIENT.family, given_names: PATIENT.given, birth_date: PATIENT.birthDate, sex: 'female',
      });
      assert.equal(typeof p.id, 'string', JSON.stringify(p));
      assert.match(p.mrn ?? '', /\S/, `no MRN in ${JSON.stringify(p)}`);
      await reception.api.created(`/api/v1/patients/${p.id}/admission`, { department_id: departments.internalMedicine });
      return { id: p.id, mrn: p.mrn };
    });

    /** Reception records `email` for the patient and verifies it with the mailed code; returns the contact id. */
    const verifiedContact = async (email) => {
      const before = await sink.messages();
      const c = await reception.api.created(`/api/v1/patients/${patient.id}/contacts`, { email });
      const mail = await sink.waitFor((m) => m.to.includes(email) && m.text.includes('verification code is'),
        { after: before });
      const code = codeAfter(mail.text, 'Your verification code is ');
      secrets.mailCodes.push(code);
      await reception.api.created(`/api/v1/patients/${patient.id}/contacts/${c.id}/verification`, { code }, 200);
      return c.id;
    };

    const contactId = await step('reception records the e-mail address and verifies it with the mailed code',
      () => verifiedContact(PATIENT.email));

    const testId = await step('reception registers the test for the laboratory', async () => {
      const t = await reception.api.created(`/api/v1/patients/${patient.id}/test-registrations`, { laboratory_id: departments.laboratory });
      assert.equal(typeof t.id, 'string', JSON.stringify(t));
      return t.id;
    });

    const documentId = await step('laboratory uploads the result PDF for that test', async () => {
      const metadata = { category: 'results', kind: 'result', title: RESULT_TITLE, test_id: testId };
      // The metadata part must come first (crates/web/src/api/documents.rs).
      const r = await lab.api.multipart(`/api/v1/patients/${patient.id}/documents`, {
        metadata: { name: 'metadata.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(metadata)) },
        file: { name: RESULT_FILENAME, mimeType: 'application/pdf', buffer: RESULT_BYTES },
      });
      assert.equal(r.status, 201, `upload answered ${r.status}: ${JSON.stringify(r.body)}`);
      return r.body.id;
    });

    await step('clinician releases the result; the notification says nothing about the patient', async () => {
      const before = await sink.messages();
      await clinician.api.created(`/api/v1/documents/${documentId}/release`, {}, 200);
      const mail = await sink.waitFor((m) => m.to.includes(PATIENT.email) && m.subject.includes('something new is waiting'),
        { after: before });
      // The decoded subject and text, and the raw message (headers, encodings) all the same.
      const haystacks = [mail.subject, mail.text, mail.raw].map((s) => s.toLowerCase());
      for (const planted of [PATIENT.family, PATIENT.given, RESULT_TITLE, 'planted-title', patient.mrn]) {
        for (const h of haystacks) {
          assert.ok(!h.includes(planted.toLowerCase()), `the notification mentions ${JSON.stringify(planted)}:\n${mail.raw}`);
        }
      }
      assert.match(mail.text, /\/patient/, `the notification does not say where to sign in:\n${mail.text}`);
    });

    const slip = await step('reception issues an access slip for the test', async () => {
      const s = await reception.api.created(`/api/v1/tests/${testId}/slips`, { identity_check: 'identity_card' });
      for (const k of ['patient_number', 'test_reference', 'activation_secret']) {
        assert.equal(typeof s[k], 'string', `slip has no ${k}: ${JSON.stringify(Object.keys(s))}`);
        assert.ok(s[k].length > 0, `slip ${k} is empty`);
      }
      assert.notEqual(s.activation_secret.replace(/[-\s]/g, ''), WRONG_ACTIVATION_CODE.replace(/-/g, ''));
      secrets.activationSecret = s.activation_secret;
      return s;
    });

    await step('reception cannot read the result through its session', async () => {
      const r = await reception.api.get(`/api/v1/documents/${documentId}`);
      assert.ok(r.status === 403 || r.status === 404, `GET /api/v1/documents/${documentId} answered ${r.status}`);
      assert.ok(!JSON.stringify(r.body).includes(RESULT_TITLE), 'the refusal carries the title');
    });

    const invitation = await step('reception verifies a second address and sends an invitation to the lasting space; it says nothing about the patient', async () => {
      await verifiedContact(PATIENT.secondEmail);
      const before = await sink.messages();
      const sent = await reception.api.created(`/api/v1/patients/${patient.id}/invitations`, { contact_id: contactId });
      assert.ok(!JSON.stringify(sent).toLowerCase().includes('activation'), `the answer carries the code: ${JSON.stringify(sent)}`);
      const mail = await sink.waitFor((m) => m.to.includes(PATIENT.email) && m.text.includes('opened a secure patient space'),
        { after: before });
      const haystacks = [mail.subject, mail.text, mail.raw].map((x) => x.toLowerCase());
      for (const planted of [PATIENT.family, PATIENT.given, RESULT_TITLE, patient.mrn]) {
        for (const h of haystacks) {
          assert.ok(!h.includes(planted.toLowerCase()), `the invitation mentions ${JSON.stringify(planted)}:\n${mail.raw}`);
        }
      }
      const activation = mail.text.split('activation code ')[1]?.split(/\s/)[0] ?? '';
      assert.match(activation, /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/, `no activation code in:\n${mail.text}`);
      assert.ok(mail.text.includes(sent.account_reference), `the invitation does not carry the account ID:\n${mail.text}`);
      secrets.invitationCode = activation;
      return { reference: sent.account_reference, code: activation };
    });

    // The clinician and the nurse stay signed in for the messaging steps at the end.
    for (const c of staffContexts) if (c !== clinician.context && c !== nurse.context) await c.close();

    // ---- The patient, on a phone ----

    const patientContext = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en' });
    const phone = await newPage(patientContext);
    currentPage = phone;

    await step('/patient welcomes in English; axe', async () => {
      await phone.goto(`${server.baseUrl}/patient`);
      assert.equal(new URL(phone.url()).pathname, '/patient');
      assert.equal(await htmlLang(phone), 'en');
      assert.equal(await text(phone, 'h1'), 'Your patient space');
      await phone.locator('form#patient-sign-in').waitFor();
      await axe(phone, '/patient (en)');
      assertNoConsoleErrors(phone);
    });

    await step('a#activate-link opens /patient/activate; axe', async () => {
      await clickAndWaitFor(phone, 'a#activate-link', '/patient/activate');
      await phone.locator('form#activate').waitFor();
      await axe(phone, '/patient/activate');
      assertNoConsoleErrors(phone);
    });

    const fillSlip = async (code) => {
      await phone.fill('form#activate input[name=patient_number]', slip.patient_number);
      await phone.fill('form#activate input[name=test_reference]', slip.test_reference);
      await phone.fill('form#activate input[name=activation_code]', code);
    };

    await step('a wrong activation code is refused with p#form-error; axe on the error state', async () => {
      await fillSlip(WRONG_ACTIVATION_CODE);
      const response = await submitRefused(phone, 'form#activate button[type=submit]');
      assert.equal(response.status(), 400);
      assert.equal(new URL(phone.url()).pathname, '/patient/activate');
      assert.match(await text(phone, 'p#form-error'), /activation code is not right/);
      assert.equal(await phone.locator('p#form-error').getAttribute('role'), 'alert');
      await axe(phone, '/patient/activate (error: wrong code)');
      assertNoConsoleErrors(phone, { allow: [refusedLoad('/patient/activate')] });
    });

    await step('the slip\'s three values open /patient/setup; axe', async () => {
      await fillSlip(slip.activation_secret);
      await clickAndWaitFor(phone, 'form#activate button[type=submit]', '/patient/setup');
      await phone.locator('form#setup').waitFor();
      await axe(phone, '/patient/setup');
      assertNoConsoleErrors(phone);
    });

    const codeMailFrom = (before) => sink.waitFor(
      (m) => m.to.includes(PATIENT.email) && m.text.includes('your patient space is'), { after: before });

    const setupCode = await step('patient chooses a password and codes by e-mail; the code goes to the verified address', async () => {
      const radio = phone.locator(`form#setup input[type=radio][name=method][value="email:${contactId}"]`);
      assert.equal(await radio.count(), 1, 'no e-mail choice for the verified contact');
      const label = await text(phone, `label[for="${await radio.getAttribute('id')}"]`);
      assert.ok(!label.includes(PATIENT.email), `the choice shows the whole address: ${label}`);
      await phone.fill('form#setup input#password', PATIENT.password);
      await phone.fill('form#setup input#confirmation', PATIENT.password);
      await radio.check();
      const before = await sink.messages();
      await clickAndWaitFor(phone, 'form#setup button[type=submit]', '/patient/setup/confirm');
      const mail = await codeMailFrom(before);
      const code = codeAfter(mail.text, 'your patient space is ');
      secrets.mailCodes.push(code);
      const sent = await text(phone, 'p#code-sent');
      assert.match(sent, /by e-mail/, `p#code-sent: ${sent}`);
      assert.ok(!sent.includes(PATIENT.email), `p#code-sent shows the whole address: ${sent}`);
      await axe(phone, '/patient/setup/confirm');
      assertNoConsoleErrors(phone);
      return code;
    });

    await step('the mailed code confirms the set-up and lands on /patient/documents?welcome=1; axe', async () => {
      await phone.fill('form#code-form input#code', setupCode);
      await clickAndWaitFor(phone, 'form#code-form button[type=submit]', '/patient/documents');
      assert.equal(new URL(phone.url()).searchParams.get('welcome'), '1', phone.url());
      assert.match(await text(phone, '[role=status]'), /Your patient space is ready/);
      await axe(phone, '/patient/documents');
      assertNoConsoleErrors(phone);
    });

    await step('the result is listed with the verified signature', async () => {
      const items = phone.locator('ul#documents > li');
      assert.equal(await items.count(), 1, `ul#documents lists ${await items.count()} documents`);
      const item = (await items.first().innerText()).replace(/\s+/g, ' ');
      assert.ok(item.includes(RESULT_TITLE), `the list item is ${JSON.stringify(item)}`);
      assert.ok(item.includes('the signature is verified'), `no verified signature in ${JSON.stringify(item)}`);
      assert.ok(item.includes(LAB.displayName), `the signer is not named in ${JSON.stringify(item)}`);
    });

    await step('the result opens on /patient/documents/{id} (#document-title); axe', async () => {
      await clickAndWaitFor(phone, `ul#documents a[href="/patient/documents/${documentId}"]`, `/patient/documents/${documentId}`);
      assert.equal(await text(phone, '#document-title'), RESULT_TITLE);
      assert.match(await text(phone, 'main .signature'), /the signature is verified/);
      await axe(phone, '/patient/documents/{id}');
      assertNoConsoleErrors(phone);
    });

    await step('a#download saves exactly the uploaded bytes', async () => {
      const [download] = await Promise.all([phone.waitForEvent('download'), phone.click('a#download')]);
      assert.equal(download.suggestedFilename(), RESULT_FILENAME);
      const saved = await readFile(await download.path());
      assert.ok(saved.equals(RESULT_BYTES),
        `downloaded ${saved.length} bytes ${JSON.stringify(saved.toString('latin1').slice(0, 60))}, uploaded ${RESULT_BYTES.length}`);
      assertNoConsoleErrors(phone);
    });

    await step('#nav-history shows the patient\'s own read and the staff by name; axe', async () => {
      await clickAndWaitFor(phone, '#nav-history', '/patient/history');
      const rows = (await phone.locator('table#history tbody tr').allInnerTexts()).map((r) => r.replace(/\s+/g, ' '));
      assert.ok(rows.some((r) => r.includes('You, in your patient space') && r.includes('Looked at')),
        `no row with the patient's own read:\n${rows.join('\n')}`);
      const all = rows.join('\n');
      for (const name of [RECEPTION.displayName, CLINICIAN.displayName, LAB.displayName]) {
        assert.ok(all.includes(name), `${name} is not in the history:\n${all}`);
      }
      // The laboratory's upload is there as what it was: a result recorded.
      assert.ok(rows.some((r) => r.includes(LAB.displayName) && r.includes('Recorded or changed: results')),
        `no row for the laboratory's upload:\n${all}`);
      await axe(phone, '/patient/history');
      assertNoConsoleErrors(phone);
    });

    await step('#nav-account shows the method and this device; axe', async () => {
      await clickAndWaitFor(phone, '#nav-account', '/patient/account');
      const method = await text(phone, '#current-method');
      assert.match(method, /code by e-mail/, `#current-method: ${method}`);
      assert.ok(!method.includes(PATIENT.email), `#current-method shows the whole address: ${method}`);
      assert.match(await text(phone, 'ul#sessions'), /this device/);
      await phone.locator('button#sign-out-everywhere').waitFor();
      await axe(phone, '/patient/account');
      assertNoConsoleErrors(phone);
    });

    await step('a#lang-fr switches the space to French', async () => {
      await clickAndWaitFor(phone, 'a#lang-fr', '/patient/account');
      assert.equal(await htmlLang(phone), 'fr');
      assert.equal(await text(phone, '#nav-history'), 'Qui a consulté mes données');
      assert.equal(await text(phone, 'h1'), 'Mon compte');
      assertNoConsoleErrors(phone);
    });

    await step('button#sign-out returns to /patient, in French; axe', async () => {
      await clickAndWaitFor(phone, 'button#sign-out', '/patient');
      assert.equal(await htmlLang(phone), 'fr');
      assert.equal(await text(phone, 'h1'), 'Votre espace patient');
      assert.equal(await phone.locator('#nav-documents').count(), 0, 'still shows the signed-in navigation');
      // The session is over: the documents send the browser back to the welcome page.
      await phone.goto(`${server.baseUrl}/patient/documents`);
      assert.equal(new URL(phone.url()).pathname, '/patient');
      await axe(phone, '/patient (fr)');
      assertNoConsoleErrors(phone);
    });

    await step('a#lang-en switches back to English', async () => {
      await clickAndWaitFor(phone, 'a#lang-en', '/patient');
      assert.equal(await htmlLang(phone), 'en');
      assert.equal(await text(phone, 'h1'), 'Your patient space');
      assertNoConsoleErrors(phone);
    });

    await step('a#proxy-link opens /patient/proxy and a#recover-link opens /patient/recover; axe on both', async () => {
      await clickAndWaitFor(phone, 'a#proxy-link', '/patient/proxy');
      assert.ok(await phone.locator('form#proxy-activate input[name=invitation_code]').isVisible());
      await axe(phone, '/patient/proxy');
      await phone.goto(`${server.baseUrl}/patient`);
      await clickAndWaitFor(phone, 'a#recover-link', '/patient/recover');
      assert.ok(await phone.locator('form#recover input[name=account_reference]').isVisible());
      await axe(phone, '/patient/recover');
      await phone.goto(`${server.baseUrl}/patient`);
      assertNoConsoleErrors(phone);
    });

    const signInCode = await step('form#patient-sign-in with patient ID, test ID and password asks for a code; axe', async () => {
      await phone.fill('form#patient-sign-in input[name=patient_number]', slip.patient_number);
      await phone.fill('form#patient-sign-in input[name=test_reference]', slip.test_reference);
      await phone.fill('form#patient-sign-in input[name=password]', PATIENT.password);
      const before = await sink.messages();
      await clickAndWaitFor(phone, 'form#patient-sign-in button[type=submit]', '/patient/code');
      const mail = await codeMailFrom(before);
      const code = codeAfter(mail.text, 'your patient space is ');
      secrets.mailCodes.push(code);
      assert.match(await text(phone, 'p#code-sent'), /by e-mail/);
      await phone.locator('form#resend-form').waitFor();
      await axe(phone, '/patient/code');
      assertNoConsoleErrors(phone);
      return code;
    });

    await step('the mailed code signs in to /patient/documents', async () => {
      await phone.fill('form#code-form input#code', signInCode);
      await clickAndWaitFor(phone, 'form#code-form button[type=submit]', '/patient/documents');
      assert.equal(new URL(phone.url()).search, '', 'a second sign-in is not welcomed again');
      assert.ok((await text(phone, 'ul#documents')).includes(RESULT_TITLE));
      assertNoConsoleErrors(phone);
    });

    // ---- A passkey as the second factor (Chromium's virtual authenticator) ----

    await step('re-authentication (password, then the mailed code) opens /patient/setup', async () => {
      await addVirtualAuthenticator(phone);
      await clickAndWaitFor(phone, 'a#nav-account', '/patient/account');
      await phone.fill('form#reauthenticate input[name=password]', PATIENT.password);
      const before = await sink.messages();
      await clickAndWaitFor(phone, 'form#reauthenticate button[type=submit]', '/patient/account/confirm');
      const mail = await codeMailFrom(before);
      const code = codeAfter(mail.text, 'your patient space is ');
      secrets.mailCodes.push(code);
      await phone.fill('form#code-form input#code', code);
      await clickAndWaitFor(phone, 'form#code-form button[type=submit]', '/patient/setup');
      assertNoConsoleErrors(phone);
    });

    await step('choosing a passkey creates it on /patient/setup/confirm (axe) and lands on the documents', async () => {
      await phone.fill('form#setup input#password', PATIENT.password);
      await phone.fill('form#setup input#confirmation', PATIENT.password);
      await phone.check('form#setup input#method-passkey');
      await clickAndWaitFor(phone, 'form#setup button[type=submit]', '/patient/setup/confirm');
      await phone.locator('button#patient-passkey-register').waitFor();
      await axe(phone, '/patient/setup/confirm (passkey)');
      await Promise.all([
        phone.waitForURL((u) => new URL(u).pathname === '/patient/documents'),
        phone.click('button#patient-passkey-register'),
      ]);
      await clickAndWaitFor(phone, 'a#nav-account', '/patient/account');
      assert.match(await text(phone, 'p#current-method'), /passkey/);
      assertNoConsoleErrors(phone);
    });

    await step('next sign-in: password, then the passkey (no code is sent); axe on the passkey step', async () => {
      await clickAndWaitFor(phone, 'button#sign-out', '/patient');
      await phone.fill('form#patient-sign-in input[name=patient_number]', slip.patient_number);
      await phone.fill('form#patient-sign-in input[name=test_reference]', slip.test_reference);
      await phone.fill('form#patient-sign-in input[name=password]', PATIENT.password);
      const before = (await sink.messages()).length;
      await clickAndWaitFor(phone, 'form#patient-sign-in button[type=submit]', '/patient/code');
      await phone.locator('button#patient-passkey').waitFor();
      assert.equal(await phone.locator('form#code-form').count(), 0, 'no code form for a passkey');
      await axe(phone, '/patient/code (passkey)');
      await Promise.all([
        phone.waitForURL((u) => new URL(u).pathname === '/patient/documents'),
        phone.click('button#patient-passkey'),
      ]);
      assert.ok((await text(phone, 'ul#documents')).includes(RESULT_TITLE));
      assert.equal((await sink.messages()).length, before, 'no code was sent');
      assertNoConsoleErrors(phone);
    });

    await step('re-authentication (password, then the passkey) offers a passkey alone; axe on that set-up; the new passkey replaces the password', async () => {
      await clickAndWaitFor(phone, 'a#nav-account', '/patient/account');
      await phone.fill('form#reauthenticate input[name=password]', PATIENT.password);
      await clickAndWaitFor(phone, 'form#reauthenticate button[type=submit]', '/patient/account/confirm');
      await Promise.all([
        phone.waitForURL((u) => new URL(u).pathname === '/patient/setup'),
        phone.click('button#patient-passkey'),
      ]);
      await phone.locator('form#setup input#method-passkey-only').waitFor();
      await axe(phone, '/patient/setup (a passkey alone offered)');
      await phone.check('form#setup input#method-passkey-only');
      await clickAndWaitFor(phone, 'form#setup button[type=submit]', '/patient/setup/confirm');
      await Promise.all([
        phone.waitForURL((u) => new URL(u).pathname === '/patient/documents'),
        phone.click('button#patient-passkey-register'),
      ]);
      await clickAndWaitFor(phone, 'a#nav-account', '/patient/account');
      assert.match(await text(phone, 'p#current-method'), /passkey alone/);
      assert.equal(await phone.locator('form#reauthenticate input[name=password]').count(), 0, 'no password to type any more');
      await axe(phone, '/patient/account (a passkey alone)');
      assertNoConsoleErrors(phone);
    });

    await step('the password no longer signs in; form#patient-passkey-sign-in with the two IDs and the passkey does; axe', async () => {
      await clickAndWaitFor(phone, 'button#sign-out', '/patient');
      await phone.fill('form#patient-sign-in input[name=patient_number]', slip.patient_number);
      await phone.fill('form#patient-sign-in input[name=test_reference]', slip.test_reference);
      await phone.fill('form#patient-sign-in input[name=password]', PATIENT.password);
      const response = await submitRefused(phone, 'form#patient-sign-in button[type=submit]');
      assert.equal(response.status(), 401);
      await phone.fill('form#patient-passkey-sign-in input[name=patient_number]', slip.patient_number);
      await phone.fill('form#patient-passkey-sign-in input[name=test_reference]', slip.test_reference);
      await clickAndWaitFor(phone, 'form#patient-passkey-sign-in button[type=submit]', '/patient/code');
      await phone.locator('button#patient-passkey').waitFor();
      await axe(phone, '/patient/code (a passkey alone)');
      await Promise.all([
        phone.waitForURL((u) => new URL(u).pathname === '/patient/documents'),
        phone.click('button#patient-passkey'),
      ]);
      assert.ok((await text(phone, 'ul#documents')).includes(RESULT_TITLE));
      assertNoConsoleErrors(phone, { allow: [refusedLoad('/patient/sign-in')] });
    });

    await patientContext.close();

    // ---- The invited patient's lasting space, then a forgotten password ----

    const invitedContext = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en' });
    const invited = await newPage(invitedContext);
    currentPage = invited;

    await step('the invitation opens the lasting space with the patient ID left empty; set-up by e-mail code', async () => {
      await invited.goto(`${server.baseUrl}/patient/activate`);
      await invited.fill('form#activate input[name=test_reference]', invitation.reference);
      await invited.fill('form#activate input[name=activation_code]', invitation.code);
      await clickAndWaitFor(invited, 'form#activate button[type=submit]', '/patient/setup');
      await invited.fill('form#setup input#password', PATIENT.password);
      await invited.fill('form#setup input#confirmation', PATIENT.password);
      await invited.locator(`form#setup input[type=radio][name=method][value="email:${contactId}"]`).check();
      const before = await sink.messages();
      await clickAndWaitFor(invited, 'form#setup button[type=submit]', '/patient/setup/confirm');
      const code = codeAfter((await codeMailFrom(before)).text, 'your patient space is ');
      secrets.mailCodes.push(code);
      await invited.fill('form#code-form input#code', code);
      await clickAndWaitFor(invited, 'form#code-form button[type=submit]', '/patient/documents');
      assert.ok((await text(invited, 'ul#documents')).includes(RESULT_TITLE), 'the lasting space lists the released result');
      assertNoConsoleErrors(invited);
    });

    await step('#nav-account shows the patient ID to sign in with from now on; axe', async () => {
      await clickAndWaitFor(invited, '#nav-account', '/patient/account');
      assert.equal(await text(invited, '#my-patient-id'), patient.mrn);
      assert.equal(await text(invited, '#my-reference'), invitation.reference);
      await axe(invited, '/patient/account (lasting space, identifiers)');
      assertNoConsoleErrors(invited);
    });

    await step('a forgotten password: a#recover-link, a code to the usual address, then one to the other; axe on each step', async () => {
      await clickAndWaitFor(invited, 'button#sign-out', '/patient');
      await clickAndWaitFor(invited, 'a#recover-link', '/patient/recover');
      await invited.fill('form#recover input#patient_number', patient.mrn);
      await invited.fill('form#recover input#account_reference', invitation.reference);
      let before = await sink.messages();
      await clickAndWaitFor(invited, 'form#recover button[type=submit]', '/patient/recover/code');
      const first = codeAfter((await codeMailFrom(before)).text, 'your patient space is ');
      secrets.mailCodes.push(first);
      await axe(invited, '/patient/recover/code (usual method)');
      await invited.fill('form#code-form input#code', first);
      before = await sink.messages();
      // The same address again, for the second code: wait for the new page, not the URL.
      await Promise.all([invited.waitForNavigation(), invited.click('form#code-form button[type=submit]')]);
      assert.equal(new URL(invited.url()).pathname, '/patient/recover/code');
      const mail = await sink.waitFor((m) => m.to.includes(PATIENT.secondEmail) && m.text.includes('your patient space is'),
        { after: before });
      const second = codeAfter(mail.text, 'your patient space is ');
      secrets.mailCodes.push(second);
      await axe(invited, '/patient/recover/code (other contact)');
      await invited.fill('form#code-form input#code', second);
      await clickAndWaitFor(invited, 'form#code-form button[type=submit]', '/patient/recover/password');
      await invited.locator('form#recover-password').waitFor();
      await axe(invited, '/patient/recover/password');
      await invited.fill('form#recover-password input#password', PATIENT.newPassword);
      await invited.fill('form#recover-password input#confirmation', PATIENT.newPassword);
      await clickAndWaitFor(invited, 'form#recover-password button[type=submit]', '/patient/documents');
      assert.ok((await text(invited, 'ul#documents')).includes(RESULT_TITLE));
      assertNoConsoleErrors(invited);
    });

    // ---- Secure messaging: two colleagues with an attachment, and the patient's reply ----

    const MESSAGE_SUBJECT = 'Follow-up of your ferritin';
    const MESSAGE_FILE = Buffer.from('%PDF-1.4\n% Sealroom e2e diet advice 41c2\n%%EOF\n');
    // Larger than one 8 MiB piece of the page's resumable upload, so it takes two requests.
    const PIECE = 8 * 1024 * 1024;
    const SCAN_FILE = Buffer.alloc(PIECE + 300_000);
    for (let i = 0, x = 0x2545f491; i < SCAN_FILE.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      SCAN_FILE[i] = x >>> 24;
    }
    const nurseId = (await nurse.api.get('/api/v1/me')).body.principal.replace(/^user:/, '');

    await step('the nurse\'s inbox is open and connected for live delivery; axe on /messages', async () => {
      currentPage = nurse.page;
      await nurse.page.goto(`${server.baseUrl}/messages`);
      await nurse.page.locator('#live-status[data-live=connected]').waitFor({ state: 'attached' });
      assert.equal(await text(nurse.page, '#unread-total'), '0');
      await axe(nurse.page, '/messages (staff inbox)');
    });

    const threadId = await step('the clinician writes to the nurse and the patient about the patient, with two files; the larger one resumes after its connection drops', async () => {
      currentPage = clinician.page;
      await clinician.page.goto(`${server.baseUrl}/messages`);
      await clinician.page.fill('form#compose #subject', MESSAGE_SUBJECT);
      await clinician.page.selectOption('form#compose #participants', [`user:${nurseId}`]);
      await clinician.page.fill('form#compose #patient_id', patient.id);
      await clinician.page.check('form#compose #include_patient');
      await clinician.page.selectOption('form#compose #category', 'results');
      await clinician.page.fill('form#compose #body', 'The result is fine. Diet advice attached; the nurse will call you.');
      await clinician.page.setInputFiles('form#compose #files', [
        { name: 'diet.pdf', mimeType: 'application/pdf', buffer: MESSAGE_FILE },
        { name: 'scan.zip', mimeType: 'application/zip', buffer: SCAN_FILE },
      ]);
      // The files go to the resumable upload endpoint first. The second piece of the larger
      // one is cut off once, as a dropped connection would: the server receives only its
      // first 200 000 bytes (three whole segments, 196 608 bytes, count) and the browser no
      // answer, so the page must ask where the upload stands and continue from there.
      const tus = [];
      let dropped = false;
      const isUpload = (u) => u.pathname.startsWith('/api/v1/uploads');
      await clinician.page.route(isUpload, async (route) => {
        const r = route.request();
        const offset = r.headers()['upload-offset'];
        tus.push(offset === undefined ? r.method() : `${r.method()} ${offset}`);
        if (r.method() === 'PATCH' && offset === String(PIECE) && !dropped) {
          dropped = true;
          const cut = await route.fetch({ postData: r.postDataBuffer().subarray(0, 200_000) });
          assert.equal(cut.headers()['upload-offset'], String(PIECE + 196_608));
          return route.abort('connectionreset');
        }
        return route.continue();
      });
      let formBytes = -1;
      clinician.page.on('request', (r) => {
        if (r.method() === 'POST' && new URL(r.url()).pathname === '/messages') formBytes = (r.postDataBuffer() || Buffer.alloc(0)).length;
      });
      await Promise.all([clinician.page.waitForURL((u) => u.pathname.startsWith('/messages/'), { timeout: 60_000 }), clinician.page.click('form#compose #send')]);
      await clinician.page.unroute(isUpload);
      assert.deepEqual(tus, ['POST', 'PATCH 0', 'POST', 'PATCH 0', `PATCH ${PIECE}`, 'HEAD', `PATCH ${PIECE + 196_608}`], tus.join(', '));
      assert.ok(formBytes >= 0 && formBytes < 64 * 1024, `the form carried the files themselves (${formBytes} bytes)`);
      assert.match(await text(clinician.page, 'p.notice'), /Sent/);
      assert.equal(await text(clinician.page, '#thread-subject'), MESSAGE_SUBJECT);
      assertNoConsoleErrors(clinician.page, { allow: [/ERR_CONNECTION_RESET/] });
      return new URL(clinician.page.url()).pathname.split('/')[2];
    });

    await step('it reaches the nurse\'s open inbox without reloading by hand; she reads it, the signature verifies, the file is intact', async () => {
      currentPage = nurse.page;
      await nurse.page.locator('#unread-total', { hasText: '1' }).waitFor();
      await nurse.page.locator(`tr[data-thread="${threadId}"] a`).waitFor();
      await clickAndWaitFor(nurse.page, `tr[data-thread="${threadId}"] a`, `/messages/${threadId}`);
      const first = nurse.page.locator('#messages article.message').first();
      assert.match(await first.locator('.body').textContent(), /Diet advice attached/);
      assert.match(await first.locator('header').textContent(), /Signature verified/);
      for (const [name, content] of [['diet.pdf', MESSAGE_FILE], ['scan.zip', SCAN_FILE]]) {
        const href = await first.locator('ul.attachments a', { hasText: name }).getAttribute('href');
        const r = await nurse.page.request.get(`${server.baseUrl}${href}`);
        assert.equal(r.status(), 200);
        assert.ok(Buffer.from(await r.body()).equals(content), `${name} comes back byte for byte`);
      }
      await axe(nurse.page, '/messages/{id} (staff thread)');
      assertNoConsoleErrors(nurse.page);
    });

    await step('the nurse replies; the clinician\'s open thread shows it live, with her read receipt', async () => {
      currentPage = clinician.page;
      await clinician.page.locator('#live-status[data-live=connected]').waitFor({ state: 'attached' });
      await nurse.page.fill('form#reply #body', 'I will call this afternoon.');
      await Promise.all([nurse.page.waitForURL((u) => u.search.includes('sent=1')), nurse.page.click('form#reply #send')]);
      await clinician.page.locator('#messages article.message', { hasText: 'I will call this afternoon.' }).waitFor();
      const receipts = await text(clinician.page, `#messages article.message details.receipts li[data-recipient="user:${nurseId}"]`);
      assert.match(receipts, /read/, receipts);
      assertNoConsoleErrors(clinician.page);
    });

    const PATIENT_PHOTO = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('Sealroom e2e photo 7c1d '.repeat(4000))]);
    await step('the patient reads the conversation in the patient space and replies with a photo; axe on both pages', async () => {
      currentPage = invited;
      await clickAndWaitFor(invited, '#nav-messages', '/patient/messages');
      await axe(invited, '/patient/messages');
      await clickAndWaitFor(invited, `li[data-thread="${threadId}"] a`, `/patient/messages/${threadId}`);
      assert.match(await text(invited, '#messages'), /Diet advice attached/);
      assert.match(await text(invited, '#messages'), /I will call this afternoon/);
      const href = await invited.locator('#messages ul.attachments a', { hasText: 'diet.pdf' }).getAttribute('href');
      const file = await invited.request.get(`${server.baseUrl}${href}`);
      assert.equal(file.status(), 200);
      assert.ok(Buffer.from(await file.body()).equals(MESSAGE_FILE), 'the patient downloads the attachment byte for byte');
      await axe(invited, '/patient/messages/{id}');
      await invited.fill('form#reply #body', 'Thank you, I am at home after 2 pm.');
      await invited.setInputFiles('form#reply #files', { name: 'rash photo.jpg', mimeType: 'image/jpeg', buffer: PATIENT_PHOTO });
      await Promise.all([invited.waitForURL((u) => u.search.includes('sent=1')), invited.click('form#reply #send')]);
      assert.match(await text(invited, '#messages'), /I am at home after 2 pm/);
      assert.match(await text(invited, '#messages'), /rash photo\.jpg/);
      assertNoConsoleErrors(invited);
    });

    await step('an answer from the care team appears live in the patient\'s open thread', async () => {
      currentPage = invited;
      await invited.locator('#live-status[data-live=connected]').waitFor({ state: 'attached' });
      await clinician.api.created(`/api/v1/threads/${threadId}/messages`, { body: 'Perfect, we will call at 3 pm.' });
      await invited.locator('#messages article.message', { hasText: 'we will call at 3 pm' }).waitFor();
      assertNoConsoleErrors(invited);
    });

    await step('the patient\'s reply appears live in the clinician\'s open thread, signed, with the photo', async () => {
      currentPage = clinician.page;
      const reply = clinician.page.locator('#messages article.message', { hasText: 'I am at home after 2 pm' });
      await reply.waitFor();
      assert.match(await reply.locator('header').textContent(), /Signature verified/);
      const photo = await reply.locator('ul.attachments a', { hasText: 'rash photo.jpg' }).getAttribute('href');
      const r = await clinician.page.request.get(`${server.baseUrl}${photo}`);
      assert.equal(r.status(), 200);
      assert.ok(Buffer.from(await r.body()).equals(PATIENT_PHOTO), 'the patient\'s photo comes back byte for byte');
      assertNoConsoleErrors(clinician.page);
    });

    // ---- Someone outside the organization: a link by e-mail, an access code given by phone ----

    const OUTSIDE_EMAIL = 'dr.outside-5e1a@clinique-exemple.fr';
    const OUTSIDE_SUBJECT = 'Referral for a second opinion';
    const outside = await step('the clinician writes to a doctor outside about the patient; after confirming a first address, the access code is shown once', async () => {
      currentPage = clinician.page;
      await clinician.page.goto(`${server.baseUrl}/messages`);
      await clinician.page.fill('form#compose #subject', OUTSIDE_SUBJECT);
      await clinician.page.fill('form#compose #patient_id', patient.id);
      await clinician.page.check('form#compose #include_patient');
      await clinician.page.selectOption('form#compose #category', 'results');
      await clinician.page.fill('form#compose #outside_email', OUTSIDE_EMAIL);
      await clinician.page.selectOption('form#compose #outside_verify', 'access_code');
      await clinician.page.fill('form#compose #body', 'Could you see our patient next week?');
      await clinician.page.click('form#compose #send');
      const confirm = clinician.page.locator('#leak-findings input[name=confirm][value=first_outside_address]');
      await confirm.waitFor();
      await confirm.check();
      await clinician.page.click('form#compose #send');
      await clinician.page.locator('p.notice', { hasText: 'access code' }).waitFor();
      const notice = await text(clinician.page, 'p.notice');
      const m = /([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})/.exec(notice);
      assert.ok(m, notice);
      assert.equal(await text(clinician.page, '#thread-subject'), OUTSIDE_SUBJECT);
      // The first attempt was answered 422 (stopped for confirmation), as intended.
      assertNoConsoleErrors(clinician.page, { allow: [/status of 422 \(Unprocessable Entity\) \(http:\/\/localhost:\d+\/messages:/] });
      // The page stays open, connected for live delivery, while the outside doctor answers;
      // a mark on it shows whether it was loaded again.
      await clinician.page.locator('#live-status[data-live=connected]').waitFor({ state: 'attached' });
      await clinician.page.evaluate(() => { window.sealroomTestMark = 'still here'; });
      return { code: m[1], thread: await clinician.page.locator('#thread-subject').getAttribute('data-thread') };
    });

    await step('the outside doctor opens the e-mailed link, types the access code, reads and replies with a file; axe on /outside', async () => {
      const mail = await sink.waitFor((m) => m.to.includes(OUTSIDE_EMAIL));
      for (const planted of [OUTSIDE_SUBJECT, PATIENT.family, PATIENT.given, outside.code]) {
        assert.ok(!mail.subject.includes(planted) && !mail.text.includes(planted), `the e-mail reveals ${planted}`);
      }
      const link = /https?:\/\/\S+\/outside\/m\/\S+/.exec(mail.text);
      assert.ok(link, mail.text);
      const outsideContext = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en' });
      const doctor = await newPage(outsideContext);
      currentPage = doctor;
      await doctor.goto(link[0]);
      assert.equal(new URL(doctor.url()).pathname, '/outside', 'the reference leaves the address bar');
      await doctor.locator('#method[data-method=access_code]').waitFor();
      await axe(doctor, '/outside (verification)');
      await doctor.fill('form#verify #code', outside.code.toLowerCase().replaceAll('-', ' '));
      await doctor.click('form#verify button[type=submit]');
      await doctor.locator('#thread-subject').waitFor();
      assert.equal(await text(doctor, '#thread-subject'), OUTSIDE_SUBJECT);
      assert.match(await text(doctor, '#messages'), /see our patient next week/);
      assert.match(await text(doctor, '#messages'), /Signature verified/);
      await axe(doctor, '/outside (thread)');
      await doctor.fill('form#reply #body', 'Booked for Tuesday at 10.');
      await doctor.setInputFiles('form#reply #files', { name: 'booking.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n% booking\n%%EOF\n') });
      await Promise.all([doctor.waitForURL((u) => u.search.includes('sent=1')), doctor.click('form#reply #send')]);
      assert.match(await text(doctor, '#messages'), /Booked for Tuesday at 10/);
      assertNoConsoleErrors(doctor);
      await outsideContext.close();
    });

    await step('the clinician sees the outside reply, signed, with its file', async () => {
      currentPage = clinician.page;
      // The page showing the access code answered a form: the reply is announced there, and
      // the page is not loaded again (that would send the form again and lose the code).
      await clinician.page.locator('#live-status', { hasText: 'A new message arrived' }).waitFor();
      assert.equal(await clinician.page.evaluate(() => window.sealroomTestMark), 'still here', 'the page was loaded again');
      assert.match(await text(clinician.page, 'p.notice'), new RegExp(outside.code));
      await clinician.page.goto(`${server.baseUrl}/messages/${outside.thread}`);
      const reply = clinician.page.locator('#messages article.message', { hasText: 'Booked for Tuesday at 10' });
      await reply.waitFor();
      assert.match(await reply.locator('header').textContent(), /Signature verified/);
      assert.match(await reply.locator('header').textContent(), new RegExp(OUTSIDE_EMAIL.replace(/[.]/g, '\\.')));
      assert.match(await reply.locator('ul.attachments').textContent(), /booking\.pdf/);
      assertNoConsoleErrors(clinician.page);
    });

    await step('the patient, also on that thread, replies: no leak rule stops a patient (they could not confirm a first outside address)', async () => {
      currentPage = invited;
      await invited.goto(`${server.baseUrl}/patient/messages/${outside.thread}`);
      assert.match(await text(invited, '#messages'), /see our patient next week/);
      await invited.fill('form#reply #body', 'Tuesday at 10 suits me.');
      await Promise.all([invited.waitForURL((u) => u.search.includes('sent=1')), invited.click('form#reply #send')]);
      assert.match(await text(invited, '#messages'), /Tuesday at 10 suits me/);
      assertNoConsoleErrors(invited);
    });

    await invitedContext.close();
    await clinician.context.close();
    await nurse.context.close();

    // ---- Nothing secret and no planted patient data in the server's output ----

    await step('server output has no password, staff secret, activation secret, code, address, planted name, title or MRN', async () => {
      const raw = server.output();
      const clean = stripAnsi(raw);
      // 6-digit codes could collide with the microseconds of log timestamps: drop those first.
      const noTimestamps = clean.replace(/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<ts>');
      const lower = clean.toLowerCase();
      const found = [];
      const check = (label, value) => {
        if (value && lower.includes(value.toLowerCase())) found.push(`${label} (${JSON.stringify(value)})`);
      };
      for (const pw of secrets.passwords) {
        check('password', pw);
        check('password, form-encoded', pw.replaceAll(' ', '+'));
        check('password, percent-encoded', encodeURIComponent(pw));
      }
      assert.ok(secrets.activationSecret, 'the activation secret was never read');
      check('activation secret', secrets.activationSecret);
      check('activation secret, without separators', secrets.activationSecret.replace(/[-\s]/g, ''));
      assert.equal(secrets.mailCodes.length, 8, `expected 8 mailed codes (2 verifications; set-up, sign-in, re-authentication; the invited set-up; 2 recovery codes), read ${secrets.mailCodes.length}`);
      assert.ok(secrets.invitationCode, 'the invitation code was never read');
      check('invitation code', secrets.invitationCode);
      check('invitation code, without separators', secrets.invitationCode.replace(/[-\s]/g, ''));
      for (const code of [...secrets.mailCodes, ...secrets.totpCodes]) {
        if (new RegExp(`(?<!\\d)${code}(?!\\d)`).test(noTimestamps)) found.push(`code (${code})`);
      }
      assert.equal(secrets.staffSecrets.length, 5 * 11, 'staff secrets were not all read');
      for (const v of secrets.staffSecrets) check('staff TOTP secret or recovery code', v);
      check('patient e-mail address', PATIENT.email);
      check('second e-mail address', PATIENT.secondEmail);
      check('patient e-mail address, percent-encoded', encodeURIComponent(PATIENT.email));
      check('planted family name', PATIENT.family);
      check('planted given name', PATIENT.given);
      check('planted result title', RESULT_TITLE);
      check('MRN', patient.mrn);
      assert.deepEqual(found, [], `found in the server output: ${found.join(', ')}`);
    });

    // ---- Accessibility, over every page visited ----

    await step('axe found no WCAG 2.2 AA violation on any patient page', async () => {
      const summary = axeFindings.map((f) => `- ${f.page} (${f.url}): ${f.id} [${f.impact}] ${f.help}\n` +
        f.nodes.map((n) => `    ${n.target}: ${n.html}`).join('\n')).join('\n');
      assert.equal(axeFindings.length, 0, `axe violations:\n${summary}`);
    });
  });
