// Drive the probe page in Debian's chromium with playwright-core, one JSON request per stdin line.
//
// First line: {"launch": {executablePath, args, url, timeoutMs}}. Every later line:
// {"id": n, "op": name, "args": [...]}, answered on stdout by {"id": n, "ok": bool, "value"|"error"}.
// Requests reach only window.voipctlProbe's own functions. Arguments may hold credentials
// (configure): they are never echoed, logged or put on the command line.
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const OPS = new Set(['configure', 'register', 'call', 'waitIncoming', 'refresh', 'stats', 'hangup', 'stop', 'events']);

function reply(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function fail(text) {
  process.stderr.write(`driver: ${text}\n`);
}

let browser = null;
let page = null;
const pageErrors = [];

async function launch(spec) {
  browser = await chromium.launch({
    executablePath: spec.executablePath,
    headless: false, // the args carry --headless=new explicitly
    args: spec.args,
    timeout: spec.timeoutMs,
  });
  const context = await browser.newContext();
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err.message).slice(0, 300)));
  await page.goto(spec.url, { waitUntil: 'load', timeout: spec.timeoutMs });
  await page.waitForFunction(() => Boolean(window.voipctlProbe), null, { timeout: spec.timeoutMs });
  return { version: browser.version(), url: page.url() };
}

async function handle(request) {
  if (!OPS.has(request.op)) {
    throw new Error(`unknown op ${request.op}`);
  }
  return page.evaluate(([op, args]) => window.voipctlProbe[op](...args), [request.op, request.args ?? []]);
}

async function close() {
  if (browser) {
    await browser.close().catch(() => {});
    browser = null;
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
let first = true;
for await (const line of lines) {
  if (!line.trim()) {
    continue;
  }
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    fail('request is not JSON');
    break;
  }
  if (first) {
    first = false;
    try {
      reply({ id: 0, ok: true, value: await launch(request.launch) });
    } catch (err) {
      reply({ id: 0, ok: false, error: String(err.message ?? err).split('\n')[0] });
      break;
    }
    continue;
  }
  if (request.op === 'close') {
    reply({ id: request.id, ok: true, value: { pageErrors } });
    break;
  }
  try {
    reply({ id: request.id, ok: true, value: await handle(request) });
  } catch (err) {
    const text = String(err.message ?? err).replace(/^page\.evaluate: (Error: )?/, '').split('\n')[0];
    reply({ id: request.id, ok: false, error: text });
  }
}
await close();
