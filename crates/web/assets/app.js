// Sealroom's own script: passkey ceremonies (WebAuthn), live message delivery and resumable
// attachment uploads.
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
  // change; a new message in the thread on screen (or in the inbox) loads the page again from
  // its address (`data-reload`) unless something is being typed or the page is the answer to a
  // form (it has no such address: loading it again would send the form again), in which case a
  // notice says so. Events carry ids only.
  function live() {
    const status = document.querySelector('#live-status[data-events]');
    if (!status || !window.EventSource) return;
    const total = document.getElementById('unread-total');
    const subject = document.querySelector('#thread-subject[data-thread]');
    const here = subject ? subject.dataset.thread : null;
    const typing = () => Array.from(document.querySelectorAll('#body, #subject'))
      .some((f) => f.value && f.value.trim() !== '')
      || Array.from(document.querySelectorAll('input[type="file"]')).some((f) => f.files && f.files.length > 0)
      || document.querySelector('form[data-uploading]') !== null;
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
      if (typing() || Date.now() - lastUsed > RECENT_MS || !status.dataset.reload) {
        status.textContent = status.dataset.typing || '';
      } else {
        store.setItem('sealroom-auto-reload', '1');
        window.location.replace(status.dataset.reload);
      }
    };
    ['message', 'recalled', 'expired'].forEach((k) => source.addEventListener(k, changed));
    source.addEventListener('open', () => { status.dataset.live = 'connected'; });
  }

  // Attachments on the staff messaging forms go first to the resumable upload endpoint (tus
  // 1.0), in pieces: after a dropped connection or a server hiccup the upload asks where the
  // server stands (HEAD) and continues from there, and a form sent again continues an upload
  // this tab left unfinished. The form then carries the attachments' ids instead of the files.
  // Without script (or fetch) the files simply go with the form.
  const PIECE = 8 * 1024 * 1024;
  // Waits of 0.5, 1, 2, 4, 8 then 15 s: 90 s in all, longer than the server waits for a
  // stalled request (upload_idle_seconds, 60 by default) before it lets the upload go on.
  const RETRIES = 10;
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const tusHeaders = (extra) => Object.assign({ 'Tus-Resumable': '1.0.0', 'X-CSRF-Token': csrf() }, extra || {});
  const b64 = (text) => {
    let bin = '';
    new TextEncoder().encode(text).forEach((c) => { bin += String.fromCharCode(c); });
    return btoa(bin);
  };

  async function refusal(res) {
    let data = {};
    try { data = await res.json(); } catch (_) { data = {}; }
    return new Error(data.message || 'The upload was refused (' + res.status + ').');
  }

  // The key under which this tab remembers an unfinished upload of `file`: a hash, so that
  // no file name is kept in the browser's storage. None outside a secure context.
  async function fingerprint(file) {
    if (!window.crypto || !crypto.subtle || !window.sessionStorage) return null;
    const text = [file.name, file.size, file.lastModified, file.type].join('\n');
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
    return 'sealroom-upload:' + Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // Where an upload stands: its offset, 'gone' if the server no longer has it, or null if
  // the server could not be asked.
  async function standing(location) {
    try {
      const res = await fetch(location, { method: 'HEAD', credentials: 'same-origin', headers: tusHeaders() });
      if (res.ok) return Number(res.headers.get('Upload-Offset'));
      return res.status === 404 || res.status === 410 ? 'gone' : null;
    } catch (_) {
      return null;
    }
  }

  // Give up on an upload: the server drops what it staged, and this tab forgets it.
  function abandon(key, upload) {
    if (key) sessionStorage.removeItem(key);
    fetch(upload.location, { method: 'DELETE', credentials: 'same-origin', headers: tusHeaders() }).catch(() => {});
  }

  async function sendFile(endpoint, file, progress) {
    const key = await fingerprint(file);
    let upload = key ? JSON.parse(sessionStorage.getItem(key) || 'null') : null;
    let offset = upload ? await standing(upload.location) : 'gone';
    if (typeof offset !== 'number') {
      const res = await fetch(endpoint, {
        method: 'POST',
        credentials: 'same-origin',
        headers: tusHeaders({
          'Upload-Length': String(file.size),
          'Upload-Metadata': ['for ' + b64('attachment'), 'filename ' + b64(file.name),
            'filetype ' + b64(file.type || 'application/octet-stream')].join(','),
        }),
      });
      if (res.status !== 201) throw await refusal(res);
      upload = { location: res.headers.get('Location'), id: res.headers.get('X-Sealroom-Attachment') };
      if (key) sessionStorage.setItem(key, JSON.stringify(upload));
      offset = 0;
    }
    let failures = 0;
    for (;;) {
      progress(offset);
      // One byte more than the piece: the server keeps a 64 KiB segment once a byte after it
      // has arrived (until then it could be the file's last), so the next piece starts exactly
      // PIECE further on and only that byte is sent twice.
      const end = offset + PIECE + 1;
      let res = null;
      try {
        res = await fetch(upload.location, {
          method: 'PATCH',
          credentials: 'same-origin',
          headers: tusHeaders({ 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' }),
          body: file.slice(offset, end),
        });
      } catch (_) {
        res = null; // the connection dropped
      }
      if (res && res.ok) {
        const next = Number(res.headers.get('Upload-Offset'));
        if (next >= file.size) break;
        if (Number.isFinite(next) && next > offset) {
          offset = next;
          failures = 0;
          continue;
        }
        // An answer that does not move the upload on counts as a failure (no busy loop).
      } else if (res && res.status !== 409 && res.status < 500) {
        const err = await refusal(res);
        abandon(key, upload);
        throw err;
      }
      failures += 1;
      if (failures > RETRIES) {
        abandon(key, upload);
        throw new Error('The connection keeps failing; the upload was given up. Send the form again to start it anew.');
      }
      await pause(Math.min(15000, 250 * 2 ** failures));
      const at = await standing(upload.location);
      if (at === 'gone') {
        if (key) sessionStorage.removeItem(key);
        // The last piece went and only its answer was lost: the upload completed (and its
        // record went with it). If it did not, sending the form names the missing file.
        if (end >= file.size) break;
        throw new Error('The upload expired before it was complete. Send the form again to start it anew.');
      }
      if (typeof at === 'number') offset = at;
    }
    if (key) sessionStorage.removeItem(key);
    return upload.id;
  }

  function resumableUploads() {
    if (!window.fetch || !window.TextEncoder) return;
    document.querySelectorAll('input[type="file"][data-uploads]').forEach((input) => {
      const form = input.form;
      if (!form) return;
      const status = document.getElementById(input.getAttribute('aria-describedby')) || document.createElement('p');
      const sent = new WeakMap(); // file → attachment id, across attempts
      let busy = false;
      form.addEventListener('submit', async (ev) => {
        if (!input.files || input.files.length === 0) return;
        ev.preventDefault();
        if (busy) return;
        busy = true;
        form.dataset.uploading = '1';
        const button = form.querySelector('button[type="submit"]');
        if (button) button.disabled = true;
        status.classList.remove('alert');
        try {
          const files = Array.from(input.files);
          for (let i = 0; i < files.length; i++) {
            const file = files[i];
            if (sent.has(file)) continue;
            const which = files.length > 1 ? 'file ' + (i + 1) + ' of ' + files.length : 'the file';
            const id = await sendFile(input.dataset.uploads, file, (at) => {
              const pct = file.size ? Math.floor((100 * at) / file.size) : 100;
              status.textContent = 'Uploading ' + which + ' securely: ' + pct + ' %';
            });
            sent.set(file, id);
          }
          files.forEach((file) => {
            const kept = document.createElement('input');
            kept.type = 'hidden';
            kept.name = 'attachment';
            kept.value = sent.get(file);
            form.appendChild(kept);
          });
          input.value = '';
          status.textContent = 'Files uploaded; sending the message…';
          form.submit();
        } catch (err) {
          status.textContent = (err && err.message) || 'The upload failed. Send the form again to continue it.';
          status.classList.add('alert');
          if (button) button.disabled = false;
        } finally {
          busy = false;
          delete form.dataset.uploading;
        }
      });
    });
  }

  // Signing out forgets the uploads this tab left unfinished (the server expires them).
  function forgetUploadsAtSignOut() {
    const form = document.querySelector('form#signout');
    if (!form || !window.sessionStorage) return;
    form.addEventListener('submit', () => {
      Object.keys(sessionStorage).filter((k) => k.startsWith('sealroom-upload:'))
        .forEach((k) => sessionStorage.removeItem(k));
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    live();
    resumableUploads();
    forgetUploadsAtSignOut();
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
