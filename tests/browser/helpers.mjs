// Helpers of the browser end-to-end tests: where things are, starting and stopping the servers
// (bookmcp, bookmcp-chat, the LLM double, a static file server), Chromium through
// playwright-core (Debian's /usr/bin/chromium; no browser download), HS256 JWTs, a raw MCP
// client over Streamable HTTP, and axe-core.

import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

export const REPO = path.resolve(here, '../..');
export const BUILD = process.env.BOOKMCP_BUILD_DIR ? path.resolve(process.env.BOOKMCP_BUILD_DIR) : path.join(REPO, 'build');
export const BOOK_DOCS = path.join(REPO, 'examples/book/docs');
export const SITE_BUILD = path.join(REPO, 'examples/chat/site/build');
export const WIDGET_DIST = path.join(REPO, 'examples/chat/widget/dist');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Generous: two shared cores, possibly busy building.
export const TIMEOUT_MS = 120_000;

function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

// The first executable of the candidates (an environment variable's value first), or null.
export function findBinary(variable, ...candidates) {
  const list = [process.env[variable], ...candidates].filter(Boolean).map((file) => path.resolve(REPO, file));
  return list.find(executable) ?? null;
}

export const binaries = {
  bookmcp: () => findBinary('BOOKMCP_BIN', path.join(BUILD, 'bookmcp'), path.join(BUILD, 'app/bookmcp')),
  chat: () => findBinary('BOOKMCP_CHAT_BIN', path.join(BUILD, 'examples/chat/bookmcp-chat')),
  llmDouble: () =>
    findBinary('BOOKMCP_LLM_DOUBLE_BIN', path.join(BUILD, 'tests/testing/bookmcp_llm_double'), path.join(REPO, 'build-llmdouble/tests/testing/bookmcp_llm_double')),
};

// Why the browser tests cannot run here, or null when they can.
export function missingPrerequisites({ needSite = true } = {}) {
  const missing = [];
  if (!executable(CHROMIUM)) missing.push(`Chromium at ${CHROMIUM} (apt-get install chromium)`);
  if (!existsSync(path.join(WIDGET_DIST, 'widget.js'))) missing.push('the built widget (tests/browser/install.sh)');
  if (needSite && !existsSync(path.join(SITE_BUILD, 'index.html'))) missing.push('the built sample site (tests/browser/install.sh)');
  try {
    require.resolve('playwright-core');
    require.resolve('axe-core');
  } catch {
    missing.push('the npm packages of tests/browser (tests/browser/install.sh)');
  }
  return missing.length ? missing.join('; ') : null;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function temporaryDirectory(prefix) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---- processes --------------------------------------------------------------------------------

export class ServerProcess {
  constructor(command, args, env = {}) {
    this.command = command;
    this.args = args;
    this.output = '';
    this.child = spawn(command, args, {
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir(), ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.lines = createInterface({ input: this.child.stdout, crlfDelay: Infinity });
    this.lines.on('line', (line) => (this.output += `${line}\n`));
    this.child.stderr.on('data', (chunk) => {
      this.output += chunk;
      if (this.output.length > 400_000) this.output = this.output.slice(-200_000);
    });
    this.exit = null;
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve((this.exit = { code, signal }))));
  }

  get running() {
    return this.exit === null;
  }

  async stop(ms = 10_000) {
    if (!this.running) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  describe() {
    return `${path.basename(this.command)} ${this.args.join(' ')}\n--- output (end) ---\n${this.output.slice(-6000)}`;
  }
}

async function waitFor(url, process, ms, accept = (status) => status === 200) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!process.running) throw new Error(`exited (${JSON.stringify(process.exit)}) before ${url} answered\n${process.describe()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (accept(response.status)) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`no answer from ${url} within ${ms} ms\n${process.describe()}`);
}

// bookmcp --listen on a free port, indexing the sample book; `jwtSecretFile` for HS256 JWTs.
export async function startBookmcp({ jwtSecretFile, docs = BOOK_DOCS, extraArgs = [] }) {
  const data = temporaryDirectory('bookmcp-browser-data-');
  for (let attempt = 0; ; ++attempt) {
    const port = await freePort();
    const args = ['--listen', `127.0.0.1:${port}`, '--data-dir', data.dir, '--docs', docs, '--log-level', 'info'];
    if (jwtSecretFile) args.push('--jwt-secret-file', jwtSecretFile);
    const process = new ServerProcess(binaries.bookmcp(), [...args, ...extraArgs]);
    try {
      await waitFor(`http://127.0.0.1:${port}/healthz`, process, 60_000);
      return {
        process,
        port,
        base: `http://127.0.0.1:${port}`,
        mcpUrl: `http://127.0.0.1:${port}/mcp`,
        wsUrl: `ws://127.0.0.1:${port}/mcp`,
        async stop() {
          await process.stop();
          data.cleanup();
        },
      };
    } catch (error) {
      await process.stop(2000);
      if (attempt < 2 && /cannot listen|address in use/i.test(process.output)) continue;
      data.cleanup();
      throw error;
    }
  }
}

// bookmcp-chat on a free port, as one MCP client of bookmcp (`mcpUrl`), allowing the site's
// origin. `llmBaseUrl` switches from the extractive mode to an LLM (the double).
export async function startChat({ mcpUrl, jwtSecretFile, allowedOrigin, llmBaseUrl, env = {}, extraArgs = [] }) {
  const data = temporaryDirectory('bookmcp-chat-data-');
  for (let attempt = 0; ; ++attempt) {
    const port = await freePort();
    const args = ['--listen', `127.0.0.1:${port}`, '--mcp-url', mcpUrl, '--data-dir', data.dir, '--mcp-jwt-secret-file', jwtSecretFile, '--allowed-origin', allowedOrigin, '--widget-dir', WIDGET_DIST];
    const environment = { CHAT_SECRET_KEY: randomBytes(24).toString('hex'), ...env };
    if (llmBaseUrl) Object.assign(environment, { LLM_BASE_URL: llmBaseUrl, LLM_MODEL: 'bookmcp-llm-double', LLM_API_KEY: 'test-key' });
    const process = new ServerProcess(binaries.chat(), [...args, ...extraArgs], environment);
    try {
      await waitFor(`http://127.0.0.1:${port}/health`, process, 60_000);
      return {
        process,
        port,
        base: `http://127.0.0.1:${port}`,
        async stop() {
          await process.stop();
          data.cleanup();
        },
      };
    } catch (error) {
      await process.stop(2000);
      if (attempt < 2 && /cannot listen|address in use/i.test(process.output)) continue;
      data.cleanup();
      throw error;
    }
  }
}

// The LLM double (an OpenAI-compatible endpoint with computed answers): prints
// "listening on http://127.0.0.1:<port>/v1".
export async function startLlmDouble(args = []) {
  const process = new ServerProcess(binaries.llmDouble(), ['--port', '0', '--api-key', 'test-key', ...args]);
  const baseUrl = await within(
    30_000,
    new Promise((resolve, reject) => {
      process.lines.on('line', (line) => {
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(line);
        if (match) resolve(match[1]);
      });
      process.exited.then(() => reject(new Error(`the LLM double exited\n${process.describe()}`)));
    }),
    'the LLM double to listen',
  );
  return { process, baseUrl, stop: () => process.stop() };
}

// ---- a static file server ----------------------------------------------------------------------

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.xml': 'application/xml',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

// Serves `root` at `mount` ("/" or "/book/") the way a static host serves a Docusaurus build:
// "/x" is /x.html or /x/index.html. `rewrite(text)` may change text files on the way out (the
// tests point the site's built-in backend URL at the backend they started). `pages` maps extra
// paths to HTML.
export async function startStaticServer({ root, mount = '/', rewrite = (text) => text, pages = {}, port } = {}) {
  port ??= await freePort();
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://localhost');
    if (pages[url.pathname] !== undefined) {
      const page = typeof pages[url.pathname] === 'function' ? pages[url.pathname]() : pages[url.pathname];
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      response.end(page);
      return;
    }
    if (!root || !url.pathname.startsWith(mount)) {
      response.writeHead(404, { 'Content-Type': 'text/plain' });
      response.end('not found');
      return;
    }
    let relative;
    try {
      relative = decodeURIComponent(url.pathname.slice(mount.length));
    } catch {
      relative = '';
    }
    const candidates = [];
    const base = path.resolve(root, `./${relative}`);
    if (!base.startsWith(path.resolve(root))) {
      response.writeHead(403);
      response.end();
      return;
    }
    if (relative === '' || relative.endsWith('/')) candidates.push(path.join(base, 'index.html'));
    else candidates.push(base, `${base}.html`, path.join(base, 'index.html'));
    const file = candidates.find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
    const status = file ? 200 : 404;
    const served = file ?? path.join(root, '404.html');
    if (!existsSync(served)) {
      response.writeHead(404);
      response.end();
      return;
    }
    const type = TYPES[path.extname(served)] ?? 'application/octet-stream';
    let body = readFileSync(served);
    if (/^(text|application\/json)/.test(type)) body = Buffer.from(rewrite(body.toString('utf8'), served));
    response.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    response.end(body);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
    server,
  };
}

// The baseUrl the site was built with (from its runtime script's URL).
export function siteBaseUrl(buildDir = SITE_BUILD) {
  const html = readFileSync(path.join(buildDir, 'index.html'), 'utf8');
  const match = /src="([^"]*?)assets\/js\/runtime~main/.exec(html);
  return match ? match[1] : '/';
}

// ---- JWTs and MCP -------------------------------------------------------------------------------

export function writeSecretFile(dir) {
  const file = path.join(dir, 'jwt-secret');
  writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return file;
}

const base64url = (value) => Buffer.from(value).toString('base64url');

// An HS256 JWT with node's crypto.
export function signJwt(secret, claims) {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ iat: now, exp: now + 600, ...claims }));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

// A raw MCP client over Streamable HTTP (JSON-RPC by POST; answers as JSON or as SSE).
export class McpHttpClient {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.sessionId = null;
    this.version = '2025-11-25';
    this.nextId = 1;
  }

  async post(message) {
    const headers = {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      Authorization: `Bearer ${this.token}`,
    };
    if (this.sessionId) {
      headers['Mcp-Session-Id'] = this.sessionId;
      headers['MCP-Protocol-Version'] = this.version;
    }
    const response = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify(message) });
    if (!this.sessionId) this.sessionId = response.headers.get('mcp-session-id');
    if (response.status === 202) return null;
    const text = await response.text();
    if (!response.ok) throw new Error(`MCP ${message.method}: HTTP ${response.status} ${text}`);
    if ((response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      for (const block of text.split(/\r?\n\r?\n/)) {
        const data = block
          .split(/\r?\n/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (!data) continue;
        const parsed = JSON.parse(data);
        if (parsed.id === message.id) return parsed;
      }
      throw new Error(`MCP ${message.method}: no answer in the event stream`);
    }
    return JSON.parse(text);
  }

  async initialize() {
    const answer = await this.post({
      jsonrpc: '2.0',
      id: this.nextId++,
      method: 'initialize',
      params: { protocolVersion: this.version, capabilities: {}, clientInfo: { name: 'bookmcp-browser-test', version: '1.0.0' } },
    });
    if (answer.error) throw new Error(`initialize: ${JSON.stringify(answer.error)}`);
    this.version = answer.result.protocolVersion;
    await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return answer.result;
  }

  async callTool(name, args = {}) {
    const answer = await this.post({ jsonrpc: '2.0', id: this.nextId++, method: 'tools/call', params: { name, arguments: args } });
    if (answer.error) throw new Error(`${name}: ${JSON.stringify(answer.error)}`);
    return answer.result;
  }

  async close() {
    if (!this.sessionId) return;
    await fetch(this.url, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${this.token}`, 'Mcp-Session-Id': this.sessionId, 'MCP-Protocol-Version': this.version },
    }).catch(() => {});
  }
}

// ---- the browser ----------------------------------------------------------------------------------

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Chromium through playwright-core. Playwright gives every launch a new empty user data
// directory of its own (and runs it headless).
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

// Collects a page's console errors and failed requests, for failure messages.
export function watchPage(page) {
  const log = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') log.push(`console.${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => log.push(`pageerror: ${error.message}`));
  page.on('requestfailed', (request) => log.push(`requestfailed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`));
  return log;
}

// Runs axe-core in the page; answers the violations of impact serious or critical.
export async function axeViolations(page, options = {}) {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.addScriptTag({ content: source });
  const results = await page.evaluate(
    (runOptions) => window.axe.run(runOptions.context ?? document, { resultTypes: ['violations'], ...runOptions.options }),
    options,
  );
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      nodes: violation.nodes.map((node) => `${node.target.join(' ')}: ${node.failureSummary}`).slice(0, 5),
    }));
}
