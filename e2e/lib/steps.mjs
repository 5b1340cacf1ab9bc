// Named steps for a browser journey: each prints "ok step NN name"; a failure says which step,
// where the page was (with a full-page screenshot under the results directory) and the last
// lines of the server's output.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { stripAnsi } from './server.mjs';

function tail(textValue, lines) {
  return stripAnsi(textValue).split('\n').slice(-lines).join('\n');
}

/**
 * Returns `step(name, fn)` for one journey. `currentPage()` and `currentServer()` give the page
 * a failure is reported against and the server whose output is shown (either may be null);
 * screenshots are named `<prefix>-step-<label>.png` in `resultsDir`.
 */
export function stepper({ prefix, resultsDir, currentPage, currentServer }) {
  let stepNo = 0;
  return async function step(name, fn) {
    stepNo += 1;
    const label = `${String(stepNo).padStart(2, '0')} ${name}`;
    try {
      const result = await fn();
      console.log(`ok   step ${label}`);
      return result;
    } catch (err) {
      let where = '';
      const page = currentPage();
      if (page && !page.isClosed()) {
        where = ` (page at ${page.url()})`;
        try {
          await mkdir(resultsDir, { recursive: true });
          const file = path.join(resultsDir, `${prefix}-step-${label.replace(/[^a-z0-9]+/gi, '-')}.png`);
          await page.screenshot({ path: file, fullPage: true });
          where += `; screenshot ${file}`;
        } catch { /* best effort */ }
      }
      const server = currentServer();
      const serverTail = server ? `\n--- last server output ---\n${tail(server.output(), 40)}` : '';
      throw new Error(`step "${label}" failed${where}: ${err?.message ?? err}${serverTail}`, { cause: err });
    }
  };
}
