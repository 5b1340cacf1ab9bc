// Sealroom's own script: passkey ceremonies (WebAuthn) and live message delivery.
// Loaded from /assets/app.js under a CSP that forbids inline script.
'use strict';

(function () {
  const b64uToBuf = (s) => {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    s += '==='.slice((s.length + 3) % 4);
    const bin = atob(s);
    const u = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    return u.buffer;
  };
  const bufToB64u = (b) => {
    const u = new Uint8Array(b);
    let s = '';
    for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  const csrf = () => {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute('content') : '';
  };

  async function post(url, body) {
    const res = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf() },
      body: JSON.stringify(body === undefined ? {} : body),
    });
    let data = {};
    try { data = await res.json(); } catch (_) { data = {}; }
    if (!res.ok) throw new Error(data.message || 'The request failed (' + res.status + ').');
    return data;
  }

  function showError(button, message) {
    let box = document.getElementById('webauthn-error');
    if (!box) {
      box = document.createElement('p');
      box.id = 'webauthn-error';
      box.className = 'alert';
      box.setAttribute('role', 'alert');
      button.insertAdjacentElement('afterend', box);
    }
    box.textContent = message;
  }

  function friendly(err) {
    if (err && err.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out. Try again.';
    if (err && err.name === 'InvalidStateError') return 'This passkey is already registered.';
    return (err && err.message) || 'Something went wrong. Try again.';
  }

  async function register(startUrl, finishUrl, name) {
    const ccr = await post(startUrl, { name: name });
    const pk = ccr.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    pk.user.id = b64uToBuf(pk.user.id);
    if (pk.excludeCredentials) pk.excludeCredentials = pk.excludeCredentials.map((c) => ({ ...c, id: b64uToBuf(c.id) }));
    const cred = await navigator.credentials.create({ publicKey: pk });
    const ext = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
    const r = cred.response;
    return post(finishUrl, {
      id: cred.id,
      rawId: bufToB64u(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: bufToB64u(r.attestationObject),
        clientDataJSON: bufToB64u(r.clientDataJSON),
        transports: typeof r.getTransports === 'function' ? r.getTransports() : undefined,
      },
      clientExtensionResults: ext.credProps ? { credProps: { rk: ext.credProps.rk } } : {},
    });
  }

  async function assert(startUrl, finishUrl, body) {
    const rcr = await post(startUrl, body);
    const pk = rcr.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    pk.allowCredentials = (pk.allowCredentials || []).map((c) => ({ ...c, id: b64uToBuf(c.id) }));
    const a = await navigator.credentials.get({ publicKey: pk });
    const r = a.response;
    return post(finishUrl, {
      id: a.id,
      rawId: bufToB64u(a.rawId),
      type: a.type,
      response: {
        authenticatorData: bufToB64u(r.authenticatorData),
        clientDataJSON: bufToB64u(r.clientDataJSON),
        signature: bufToB64u(r.signature),
        userHandle: r.userHandle ? bufToB64u(r.userHandle) : null,
      },
      clientExtensionResults: {},
    });
  }

  function wire(selector, action) {
    document.querySelectorAll(selector).forEach((button) => {
      button.addEventListener('click', async (ev) => {
        ev.preventDefault();
        if (!window.PublicKeyCredential) {
          showError(button, 'This browser does not support passkeys.');
          return;
        }
        button.disabled = true;
        try {
          const out = await action(button);
          window.location.assign((out && out.redirect) || button.dataset.next || '/');
        } catch (err) {
          showError(button, friendly(err));
          button.disabled = false;
        }
      });
    });
  }

  // Live delivery on the messaging pages (staff and patient space): unread counts follow every
  // change; a new message in the thread on screen (or in the inbox) reloads the page unless
  // something is being typed, in which case a notice says so. Events carry ids only.
  function live() {
    const status = document.querySelector('#live-status[data-events]');
    if (!status || !window.EventSource) return;
    const total = document.getElementById('unread-total');
    const subject = document.querySelector('#thread-subject[data-thread]');
    const here = subject ? subject.dataset.thread : null;
    const typing = () => Array.from(document.querySelectorAll('#body, #subject'))
      .some((f) => f.value && f.value.trim() !== '');
    // A page reloaded by itself must not keep an unattended session alive: it reloads only
    // while the person has used it in the last two minutes (carried across its own reloads).
    const RECENT_MS = 2 * 60 * 1000;
    const store = window.sessionStorage;
    let lastUsed = 0;
    const used = () => { lastUsed = Date.now(); store.setItem('sealroom-last-used', String(lastUsed)); };
    if (store.getItem('sealroom-auto-reload') === '1') {
      // Reloaded by itself: the person was last active when they were, not now.
      lastUsed = Number(store.getItem('sealroom-last-used')) || 0;
      store.removeItem('sealroom-auto-reload');
    } else {
      used(); // opened or reloaded by the person
    }
    ['keydown', 'pointerdown', 'wheel', 'touchstart'].forEach((k) =>
      document.addEventListener(k, used, { passive: true }));
    const source = new EventSource(status.dataset.events);
    source.addEventListener('unread', (ev) => {
      if (total) total.textContent = String(JSON.parse(ev.data).total);
    });
    const changed = (ev) => {
      const e = JSON.parse(ev.data);
      if (here && e.thread !== here) return;
      if (typing() || Date.now() - lastUsed > RECENT_MS) {
        status.textContent = status.dataset.typing || '';
      } else {
        store.setItem('sealroom-auto-reload', '1');
        window.location.reload();
      }
    };
    ['message', 'recalled', 'expired'].forEach((k) => source.addEventListener(k, changed));
    source.addEventListener('open', () => { status.dataset.live = 'connected'; });
  }

  document.addEventListener('DOMContentLoaded', () => {
    live();
    wire('[data-passkey-register]', (button) => {
      const field = document.querySelector('input[name="passkey_name"]');
      return register('/webauthn/register/start', '/webauthn/register/finish', field ? field.value : '');
    });
    wire('#passkey-signin', () => {
      const field = document.querySelector('input[name="email"]');
      return assert('/webauthn/sign-in/start', '/webauthn/sign-in/finish', { email: field ? field.value : '' });
    });
    wire('#passkey-second-factor', () => assert('/webauthn/second-factor/start', '/webauthn/second-factor/finish'));
    wire('#passkey-step-up', () => assert('/webauthn/step-up/start', '/webauthn/step-up/finish'));
    // The patient space: a passkey as the second factor.
    wire('[data-patient-passkey-register]', () => register('/patient/passkey/register/start', '/patient/passkey/register/finish', ''));
    wire('#patient-passkey', () => assert('/patient/passkey/start', '/patient/passkey/finish'));
  });
})();
