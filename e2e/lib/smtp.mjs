// A real SMTP server for browser tests: Python's aiosmtpd on loopback, keeping every message in
// a maildir (the same sink crates/testkit/src/smtp.rs starts for the Rust tests).
//
//   const sink = await startSmtpSink();
//   sink.url                               // "smtp://127.0.0.1:PORT", for SEALROOM_MAIL__SMTP_URL
//   await sink.messages()                  // every message so far: {file, to, subject, text, raw}
//   await sink.waitFor((m) => m.text.includes('...'), { after: seen })
//   await sink.stop()
//
// Messages are decoded by Python's `email` package (not by the library that wrote them), so
// quoted-printable or base64 bodies and RFC 2047 headers are read as a person would read them.
//
// The Python with aiosmtpd is $TEST_PYTHON, else <repo>/target/py/bin/python (tools/python-deps.sh).

import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const START_TIMEOUT_MS = 15_000;
const WAIT_TIMEOUT_MS = 15_000;
const POLL_MS = 100;

// Reads each file named on the command line; prints one JSON array of {to, subject, text}.
const DECODE = `
import email, json, sys
from email import policy
out = []
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        m = email.message_from_binary_file(f, policy=policy.default)
    parts = []
    for part in m.walk():
        if part.get_content_maintype() == 'text':
            parts.append(part.get_content())
    out.append({'to': str(m['to']), 'subject': str(m['subject']), 'text': '\\n'.join(parts)})
print(json.dumps(out))
`;

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export function python() {
  return process.env.TEST_PYTHON || path.join(REPO, 'target', 'py', 'bin', 'python');
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

function decode(files) {
  return new Promise((resolve, reject) => {
    execFile(python(), ['-c', DECODE, ...files], { timeout: 10_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`the messages could not be decoded: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

export async function startSmtpSink() {
  const py = python();
  if (!existsSync(py)) {
    throw new Error(`no Python with aiosmtpd at ${py}: run tools/python-deps.sh (or set TEST_PYTHON)`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'sealroom-e2e-smtp-'));
  const maildir = path.join(dir, 'maildir');
  const port = await freePort();
  const child = spawn(py, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  let exited = false;
  const exitPromise = new Promise((resolve) => child.once('exit', () => {
    exited = true;
    live.delete(child);
    resolve();
  }));

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await canConnect(port))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`aiosmtpd did not start listening on 127.0.0.1:${port}\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  // file name -> decoded message; maildir files are renamed from tmp/ into new/ whole.
  const cache = new Map();
  const order = [];

  async function messages() {
    const files = [];
    for (const sub of ['new', 'cur']) {
      let names = [];
      try { names = await readdir(path.join(maildir, sub)); } catch { /* not yet created */ }
      for (const n of names) files.push(path.join(maildir, sub, n));
    }
    const fresh = files.filter((f) => !cache.has(path.basename(f))).sort();
    if (fresh.length) {
      const decoded = await decode(fresh);
      for (const [i, f] of fresh.entries()) {
        const raw = await readFile(f, 'utf8');
        cache.set(path.basename(f), { file: path.basename(f), raw, ...decoded[i] });
        order.push(path.basename(f));
      }
    }
    return order.map((name) => cache.get(name));
  }

  /**
   * Waits for a message, not among `after` (a list of messages from messages()), for which
   * `pick` is true. Throws after `timeoutMs`, listing what did arrive.
   */
  async function waitFor(pick, { after = [], timeoutMs = WAIT_TIMEOUT_MS } = {}) {
    const seen = new Set(after.map((m) => m.file));
    const until = Date.now() + timeoutMs;
    for (;;) {
      const all = await messages();
      const found = all.find((m) => !seen.has(m.file) && pick(m));
      if (found) return found;
      if (Date.now() > until) {
        const list = all.map((m) => `  - to ${m.to}: ${m.subject}`).join('\n') || '  (none)';
        throw new Error(`no such message arrived within ${timeoutMs / 1000} s; received:\n${list}`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 3_000);
      await exitPromise;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  }

  return { url: `smtp://127.0.0.1:${port}`, port, messages, waitFor, stop };
}

/** The six digits that follow `marker` in `text` (throws, quoting the text, if there are none). */
export function codeAfter(text, marker) {
  const i = text.indexOf(marker);
  if (i === -1) throw new Error(`no ${JSON.stringify(marker)} in the message:\n${text}`);
  const m = /^(\d{6})(?!\d)/.exec(text.slice(i + marker.length));
  if (!m) throw new Error(`no 6-digit code after ${JSON.stringify(marker)} in the message:\n${text}`);
  return m[1];
}
