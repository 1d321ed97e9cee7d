// CORS in a real browser: a page served from one origin calls bookmcp's Streamable HTTP
// endpoint on another with fetch(), as a web chat front end would. Headless Chromium runs the
// page; the page reports what it saw to the server that served it.
//
// bookmcp is started with --allowed-origin for the page's origin and an API key; the page
// initializes a session (a preflighted POST with Authorization), reads Mcp-Session-Id from the
// answer (an exposed header), lists the tools with it, and also tries a wrong key (a 401 it must
// be able to read). A second page, from an origin that is not allowed, must not read anything.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { TEST_TIMEOUT_MS, temporaryDirectory, within } from './helpers.mjs';
import { freePort, startBookmcp, writeKeysFile } from './network-helpers.mjs';

const KEY = 'browser-key-0123456789abcdef';

function findChromium() {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    if (spawnSync('sh', ['-c', `command -v ${name}`]).status === 0) return name;
  }
  return null;
}

// What the page runs: every step's outcome, or the error that stopped it, is posted to /report.
function pageSource(mcpUrl) {
  return `<!doctype html><html><body><script>
const mcp = ${JSON.stringify(mcpUrl)};
const key = ${JSON.stringify(KEY)};
const report = (value) => fetch('/report', { method: 'POST', body: JSON.stringify(value) });
const headers = (extra) => Object.assign({
  'Content-Type': 'application/json',
  'Accept': 'application/json, text/event-stream',
}, extra);
(async () => {
  const seen = {};
  try {
    const wrong = await fetch(mcp, { method: 'POST', headers: headers({ Authorization: 'Bearer wrong' }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }) });
    seen.wrongKeyStatus = wrong.status;
    seen.challenge = wrong.headers.get('WWW-Authenticate');
    const init = await fetch(mcp, { method: 'POST', headers: headers({ Authorization: 'Bearer ' + key }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
        protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'page', version: '1' } } }) });
    seen.initializeStatus = init.status;
    const session = init.headers.get('Mcp-Session-Id');
    seen.sessionId = session;
    seen.serverName = (await init.json()).result?.serverInfo?.name;
    const common = { Authorization: 'Bearer ' + key, 'Mcp-Session-Id': session,
                     'MCP-Protocol-Version': '2025-11-25' };
    const ready = await fetch(mcp, { method: 'POST', headers: headers(common),
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    seen.initializedStatus = ready.status;
    const tools = await fetch(mcp, { method: 'POST', headers: headers(common),
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    seen.tools = ((await tools.json()).result?.tools ?? []).map((tool) => tool.name);
    const ended = await fetch(mcp, { method: 'DELETE', headers: common });
    seen.deleteStatus = ended.status;
  } catch (error) {
    seen.error = String(error);
  }
  await report(seen);
})();
</script></body></html>`;
}

// Serves the page on its own origin (bound now, so that the origin is known before bookmcp
// starts; the page is built when asked for, with `page.mcpUrl`) and resolves `reported` with
// the first report.
async function servePage() {
  const port = await freePort();
  const page = { origin: `http://127.0.0.1:${port}`, mcpUrl: null };
  page.reported = new Promise((resolve) => {
    const server = createServer((request, response) => {
      if (request.method === 'POST' && request.url === '/report') {
        let body = '';
        request.on('data', (chunk) => (body += chunk));
        request.on('end', () => {
          response.end('ok');
          resolve(JSON.parse(body));
        });
        return;
      }
      response.setHeader('Content-Type', 'text/html');
      response.end(pageSource(page.mcpUrl));
    });
    page.close = () => server.close();
    page.listening = new Promise((ready) => server.listen(port, '127.0.0.1', ready));
  });
  await page.listening;
  return page;
}

// Opens `url` in headless Chromium until `reported` settles; returns the report.
async function visit(chromium, url, reported) {
  const profile = mkdtempSync(path.join(tmpdir(), 'bookmcp-chromium-'));
  // Its own process group: Chromium's helper processes end with it.
  const browser = spawn(
    chromium,
    ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage',
      `--user-data-dir=${profile}`, url],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  const exited = new Promise((resolve) => browser.on('exit', resolve));
  let stderr = '';
  browser.stderr.on('data', (chunk) => (stderr += chunk));
  try {
    return await within(45_000, reported, `the page at ${url} to report (chromium stderr: ${stderr.slice(-2000)})`);
  } finally {
    try {
      process.kill(-browser.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await within(10_000, exited, 'chromium to exit');
    // Helpers may still be writing for a moment after the group was killed.
    rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  }
}

const chromium = findChromium();

describe('CORS in a real browser (headless Chromium)', { timeout: 4 * TEST_TIMEOUT_MS, skip: chromium ? false : 'chromium is not installed (scripts/install-deps.sh --tests installs it)' }, () => {
  let bookmcp;
  let allowedPage;
  let otherPage;
  let keys;
  before(async () => {
    keys = temporaryDirectory('bookmcp-browser-keys-');
    const keysFile = writeKeysFile(keys.dir, [`reader ${KEY}`]);
    allowedPage = await servePage();
    otherPage = await servePage();
    bookmcp = await startBookmcp({
      args: ['--auth-keys', keysFile, '--allowed-origin', allowedPage.origin],
    });
    allowedPage.mcpUrl = bookmcp.mcpUrl;
    otherPage.mcpUrl = bookmcp.mcpUrl;
  });
  after(async () => {
    allowedPage?.close();
    otherPage?.close();
    await bookmcp?.stop();
    keys?.cleanup();
  });

  it('a page of the allowed origin initializes, reads its session id, lists tools, and reads a 401', async () => {
    const seen = await visit(chromium, `${allowedPage.origin}/`, allowedPage.reported);
    assert.equal(seen.error, undefined, JSON.stringify(seen));
    assert.equal(seen.wrongKeyStatus, 401);
    assert.match(seen.challenge ?? '', /^Bearer\b/);
    assert.equal(seen.initializeStatus, 200);
    assert.match(seen.sessionId ?? '', /^[0-9a-f]{32}$/);
    assert.equal(seen.serverName, 'bookmcp');
    assert.equal(seen.initializedStatus, 202);
    assert.ok(seen.tools.includes('search_book') && seen.tools.includes('todo_add'), JSON.stringify(seen.tools));
    assert.equal(seen.deleteStatus, 200);
  });

  it('a page of another origin reads nothing (the browser blocks it; bookmcp refuses it)', async () => {
    const seen = await visit(chromium, `${otherPage.origin}/`, otherPage.reported);
    assert.match(seen.error ?? '', /Failed to fetch|TypeError/, JSON.stringify(seen));
    assert.equal(seen.initializeStatus, undefined);
    assert.match(bookmcp.stderr, new RegExp(`refused a request from origin ${otherPage.origin.replace(/[.]/g, '\\.')}`));
  });
});
