// Starts a throwaway Sealroom server for one test file.
//
//   const server = await startServer();
//   server.baseUrl    // "http://localhost:PORT" (never 127.0.0.1: WebAuthn needs rp id "localhost")
//   server.setupLink  // "http://localhost:PORT/setup?token=..." (one-time first-administrator link)
//   server.output()   // everything the process printed so far, stdout and stderr, raw
//   await server.stop()
//
// The binary is $SEALROOM_BIN, or ../target/debug/sealroom relative to the e2e directory.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

const LISTENING_RE = /listening on http:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)/;
// The token is whatever follows up to whitespace or a quote/bracket (log formats may wrap it).
const SETUP_LINK_RE = /set-up link: (http:\/\/localhost:\d+\/setup\?token=[^\s"'<>`\\,;)\]]+)/;

// Children still running when node exits (e.g. a test crashed before stop()).
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/** Removes ANSI colour/style escapes (tracing may colour its output even when piped). */
export function stripAnsi(text) {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '');
}

export function serverBinary() {
  return process.env.SEALROOM_BIN
    ? path.resolve(process.env.SEALROOM_BIN)
    : path.resolve(E2E_DIR, '..', 'target', 'debug', 'sealroom');
}

// The harness's own variable must not reach the server: Sealroom refuses SEALROOM_* variables
// that are not settings (a typo there would otherwise be silently ignored).
function serverEnv() {
  const { SEALROOM_BIN: _harnessOnly, ...rest } = process.env;
  return rest;
}

export async function startServer({ timeoutMs = START_TIMEOUT_MS, extraArgs = [], env = {} } = {}) {
  const bin = serverBinary();
  if (!existsSync(bin)) {
    throw new Error(
      `Sealroom binary not found at ${bin}. Build it first (cargo build) or set SEALROOM_BIN.`,
    );
  }

  const dataDir = await mkdtemp(path.join(tmpdir(), 'sealroom-e2e-'));
  const args = ['serve', '--dev', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...extraArgs];

  const child = spawn(bin, args, {
    cwd: E2E_DIR,
    env: { ...serverEnv(), NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);

  let raw = ''; // everything, both streams, in arrival order
  const output = () => raw;

  let exited = false;
  let exitInfo = null;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      exitInfo = { code, signal };
      live.delete(child);
      resolve(exitInfo);
    });
  });

  let baseUrl = null;
  let setupLink = null;
  let settle; // called whenever something relevant happens during start-up
  const ready = new Promise((resolve, reject) => {
    settle = (err) => {
      if (err) reject(err);
      else if (baseUrl && setupLink) resolve();
    };
  });

  const onLine = (line) => {
    const clean = stripAnsi(line);
    if (!baseUrl) {
      const m = LISTENING_RE.exec(clean);
      if (m) baseUrl = `http://localhost:${m[1]}`;
    }
    if (!setupLink) {
      const m = SETUP_LINK_RE.exec(clean);
      if (m) setupLink = m[1];
    }
    settle();
  };

  // Line splitting per stream, keeping every byte in `raw`.
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    let partial = '';
    stream.on('data', (chunk) => {
      raw += chunk;
      partial += chunk;
      let nl;
      while ((nl = partial.indexOf('\n')) !== -1) {
        onLine(partial.slice(0, nl).replace(/\r$/, ''));
        partial = partial.slice(nl + 1);
      }
    });
    stream.on('end', () => {
      if (partial) onLine(partial);
      partial = '';
    });
  }

  child.once('error', (err) => {
    settle(new Error(`failed to spawn ${bin}: ${err.message}\n--- output ---\n${raw}`));
  });
  // Report an early exit once its output has been read ('close'), or shortly after 'exit'.
  const closed = new Promise((resolve) => child.once('close', resolve));
  exitPromise.then(async ({ code, signal }) => {
    await Promise.race([closed, new Promise((r) => setTimeout(r, 500))]);
    settle(new Error(
      `sealroom exited during start-up (code ${code}, signal ${signal})\n` +
      `command: ${bin} ${args.join(' ')}\n--- output ---\n${raw}`,
    ));
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, STOP_GRACE_MS);
      await exitPromise;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(
      `sealroom did not report ${!baseUrl ? '"listening on http://127.0.0.1:PORT"' : ''}` +
      `${!baseUrl && !setupLink ? ' and ' : ''}${!setupLink ? '"set-up link: http://localhost:PORT/setup?token=..."' : ''}` +
      ` within ${timeoutMs / 1000} s\ncommand: ${bin} ${args.join(' ')}\n--- output ---\n${raw}`,
    )), timeoutMs);
  });

  try {
    await Promise.race([ready, timeout]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }

  return { baseUrl, setupLink, dataDir, output, stop, process: child };
}
