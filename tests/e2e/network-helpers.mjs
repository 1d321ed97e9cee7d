// Helpers of the network end-to-end tests (network.test.mjs): start bookmcp or the fixture program
// with --listen, connect the official SDK client over Streamable HTTP or WebSocket, and talk to
// the listener by hand (node:http for exact headers, `ws` for exact WebSocket frames).

import { spawn } from 'node:child_process';
import { createHmac, sign as cryptoSign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { WebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import WebSocket from 'ws';

import { bookmcpBinary, fixturesBinary, serverEnvironment, temporaryDirectory, within } from './helpers.mjs';

// The SDK's WebSocketClientTransport uses the global WebSocket (browser API), which Node 20 only
// has behind --experimental-websocket. The `ws` package implements the same API (and its
// MessageEvent carries text frames as strings), so it stands in. The transport offers the
// subprotocol "mcp" itself: `new WebSocket(url, 'mcp')`.
globalThis.WebSocket = WebSocket;

export { WebSocket };

export const PROTOCOL_VERSION = '2025-11-25';

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The hang guard of a wait for an event: far beyond any correct run, never a measure of speed
// (as tests/testing/eventually.hpp's).
export const HANG_GUARD_MS = 30_000;

// Polls `condition()` (may be async) until it holds; rejects after `ms`, naming `what`.
export async function eventually(condition, what, ms = HANG_GUARD_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

// Waits until the server's stderr matches `pattern` (its log lines come on their own pipe, so
// they may arrive after the answer to the request that caused them).
export function waitForStderr(server, pattern) {
  return eventually(() => pattern.test(server.stderr), `${pattern} in the server's stderr`);
}

// A port that was free a moment ago: bind port 0, read the number, close. Racy by nature;
// startBookmcp retries with another port when the bind fails.
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// One spawned server process: its stderr (drained), its exit, and how to stop it.
class ServerProcess {
  constructor(command, args, env) {
    this.command = command;
    this.args = args;
    this.child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.stdout = '';
    this.stderr = '';
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
    });
    this.exitInfo = null;
    this.exited.then((info) => (this.exitInfo = info));
  }

  get running() {
    return this.exitInfo === null && this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(name) {
    if (this.running) this.child.kill(name);
  }

  // SIGTERM, then SIGKILL when it does not exit within `ms`.
  async stop(ms = 10_000) {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }

  describe() {
    return `${path.basename(this.command)} ${this.args.join(' ')}\n--- stderr ---\n${this.stderr.slice(-4000)}`;
  }
}

// A running network server: its base URL, the /mcp URL, and the process.
class NetworkServer {
  constructor(process, host, port) {
    this.process = process;
    this.host = host;
    this.port = port;
    this.base = `http://${host}:${port}`;
    this.mcpUrl = `${this.base}/mcp`;
    this.wsUrl = `ws://${host}:${port}/mcp`;
    this.cleanups = [];
  }

  get stderr() {
    return this.process.stderr;
  }

  async stop() {
    const info = await this.process.stop();
    for (const cleanup of this.cleanups) cleanup();
    return info;
  }
}

// Polls GET /healthz until it answers 200, the process exits, or `ms` pass.
async function waitHealthy(server, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!server.process.running) return false;
    try {
      const response = await request(server, { path: '/healthz', timeoutMs: 2000 });
      if (response.status === 200) return true;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`no 200 from ${server.base}/healthz within ${ms} ms\n${server.process.describe()}`);
}

// Starts bookmcp --listen HOST:PORT on a free port with a private data directory and waits for
// /healthz. `args` are extra flags. Resolves with a NetworkServer; rejects when the process
// exits first (unless `expectExit`, then resolves with { exit, stderr }).
export async function startBookmcp({ args = [], host = '127.0.0.1', env = {}, expectExit = false, probeHost } = {}) {
  for (let attempt = 0; ; ++attempt) {
    const port = await freePort(host === '0.0.0.0' ? '0.0.0.0' : host);
    const data = temporaryDirectory('bookmcp-net-');
    const listen = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const process = new ServerProcess(
      bookmcpBinary(),
      ['--listen', listen, '--data-dir', data.dir, '--log-level', 'debug', ...args],
      serverEnvironment(env),
    );
    const server = new NetworkServer(process, probeHost ?? (host === '0.0.0.0' ? '127.0.0.1' : host), port);
    server.cleanups.push(data.cleanup);
    if (expectExit) {
      try {
        const exit = await within(30_000, process.exited, `bookmcp ${listen} to exit`);
        return { exit, stderr: process.stderr };
      } finally {
        process.signal('SIGKILL');
        data.cleanup();
      }
    }
    const healthy = await waitHealthy(server);
    if (healthy) return server;
    await process.exited;
    data.cleanup();
    if (/cannot listen/.test(process.stderr) && attempt < 3) continue; // lost the port race
    throw new Error(`bookmcp exited before answering /healthz: ${JSON.stringify(process.exitInfo)}\n${process.describe()}`);
  }
}

// Starts the fixture program on port 0 and reads "listening on 127.0.0.1:PORT" from stdout.
export async function startFixtures({ args = [] } = {}) {
  const process = new ServerProcess(
    fixturesBinary(),
    ['--listen', '127.0.0.1:0', '--log-level', 'info', ...args],
    serverEnvironment(),
  );
  const lines = createInterface({ input: process.child.stdout, crlfDelay: Infinity });
  const port = await within(
    30_000,
    new Promise((resolve, reject) => {
      lines.on('line', (line) => {
        process.stdout += line + '\n';
        const match = /^listening on 127\.0\.0\.1:(\d+)$/.exec(line);
        if (match) resolve(Number(match[1]));
      });
      process.exited.then((info) => reject(new Error(`fixtures exited: ${JSON.stringify(info)}\n${process.describe()}`)));
    }),
    'the fixture program to print its port',
  );
  return new NetworkServer(process, '127.0.0.1', port);
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP

// One HTTP request on a fresh connection (no keep-alive agent), with exactly the given headers.
// Resolves with { status, headers, body, json }.
export function request(server, { method = 'GET', path: target = '/', headers = {}, body, timeoutMs = 30_000, port } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: port ?? server.port, method, path: target, headers, agent: false, setHost: !hasHeader(headers, 'host') },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, body: text, json });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${target}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    else req.end();
  });
}

function hasHeader(headers, name) {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

export const POST_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

export function mcpHeaders(session, extra = {}) {
  return {
    ...POST_HEADERS,
    ...(session?.id ? { 'mcp-session-id': session.id } : {}),
    ...(session?.version ? { 'mcp-protocol-version': session.version } : {}),
    ...(session?.auth ? { authorization: session.auth } : {}),
    ...extra,
  };
}

// POSTs a JSON-RPC message to /mcp as the given session ({id, version, auth}); SSE answers are
// parsed into `events`.
export async function post(server, message, session, extraHeaders = {}) {
  const response = await request(server, {
    method: 'POST',
    path: '/mcp',
    headers: mcpHeaders(session, extraHeaders),
    body: message,
  });
  if ((response.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    response.events = parseSse(response.body);
  }
  return response;
}

// Raw initialize + notifications/initialized; resolves with the session ({id, version, auth}).
export async function initializeRaw(server, { auth, capabilities = {}, version = PROTOCOL_VERSION } = {}) {
  const response = await post(
    server,
    {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: version, capabilities, clientInfo: { name: 'bookmcp-e2e-net', version: '1.0.0' } },
    },
    { auth },
  );
  if (response.status !== 200) {
    throw new Error(`initialize: HTTP ${response.status} ${response.body}`);
  }
  const session = { id: response.headers['mcp-session-id'], version: response.json.result.protocolVersion, auth };
  const initialized = await post(server, { jsonrpc: '2.0', method: 'notifications/initialized' }, session);
  if (initialized.status !== 202) throw new Error(`notifications/initialized: HTTP ${initialized.status} ${initialized.body}`);
  return { ...session, initializeResponse: response };
}

// Parses a complete SSE body into [{event, id, data, json}] (comments and empty data skipped).
export function parseSse(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const event = { event: 'message', data: '' };
    let any = false;
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') {
        event.data += (event.data ? '\n' : '') + value;
        any = true;
      } else if (field === 'event' || field === 'id' || field === 'retry') {
        event[field] = value;
      }
    }
    if (!any || !event.data) continue;
    try {
      event.json = JSON.parse(event.data);
    } catch {
      event.json = undefined;
    }
    events.push(event);
  }
  return events;
}

// Opens a streaming request (GET SSE stream or a POST answered with SSE) and hands out events
// as they arrive. Resolves once the response head is in: { status, headers, next(pred, ms),
// events, comments, ended, close() }.
export function openStream(server, { method = 'GET', path: target = '/mcp', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, method, path: target, headers, agent: false },
      (res) => {
        const stream = {
          status: res.statusCode,
          headers: res.headers,
          events: [],
          comments: [],
          raw: '',
          waiters: [],
          ended: null,
        };
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          stream.raw += chunk;
          buffer += chunk;
          let split;
          while ((split = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const block = buffer.slice(0, split);
            buffer = buffer.slice(split).replace(/^\r?\n\r?\n/, '');
            for (const line of block.split(/\r?\n/)) if (line.startsWith(':')) stream.comments.push(line);
            for (const event of parseSse(block)) {
              stream.events.push(event);
              stream.waiters = stream.waiters.filter((waiter) => {
                if (!waiter.predicate(event)) return true;
                waiter.resolve(event);
                return false;
              });
            }
          }
        });
        stream.ended = new Promise((done) => {
          res.on('end', () => done('end'));
          res.on('close', () => done('close'));
          res.on('error', () => done('error'));
        });
        stream.next = (predicate, ms = 10_000, what = 'an SSE event') => {
          const seen = stream.events.find(predicate);
          if (seen) return Promise.resolve(seen);
          return within(ms, new Promise((done) => stream.waiters.push({ predicate, resolve: done })), what);
        };
        stream.close = () => req.destroy();
        resolve(stream);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.end(typeof body === 'string' ? body : JSON.stringify(body));
    else req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// The official SDK client

function newClient(capabilities) {
  return new Client({ name: 'bookmcp-e2e-net', version: '1.0.0' }, { capabilities });
}

// Connects over Streamable HTTP. `headers` go on every request (e.g. Authorization).
export async function connectHttp(server, { capabilities = {}, headers, setup } = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl), headers ? { requestInit: { headers } } : {});
  const client = newClient(capabilities);
  const protocolErrors = [];
  client.onerror = (error) => protocolErrors.push(error);
  setup?.(client);
  await client.connect(transport);
  return { client, transport, protocolErrors, close: () => client.close() };
}

// Connects over WebSocket with the SDK's WebSocketClientTransport (subprotocol "mcp").
export async function connectWs(server, { capabilities = {}, setup } = {}) {
  const transport = new WebSocketClientTransport(new URL(server.wsUrl));
  const client = newClient(capabilities);
  const protocolErrors = [];
  client.onerror = (error) => protocolErrors.push(error);
  setup?.(client);
  await client.connect(transport);
  return { client, transport, protocolErrors, close: () => client.close() };
}

export const TRANSPORTS = {
  'Streamable HTTP': connectHttp,
  WebSocket: connectWs,
};

// ---------------------------------------------------------------------------------------------
// Raw WebSocket

// A raw WebSocket peer: records messages, the close code and reason; waits by predicate.
export class RawWs {
  constructor(server, { protocols = ['mcp'], headers = {}, origin, url } = {}) {
    this.messages = [];
    this.waiters = [];
    this.ws = new WebSocket(url ?? server.wsUrl, protocols, { headers, origin, handshakeTimeout: 30_000 });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (req, res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const error = new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`);
          error.status = res.statusCode;
          error.headers = res.headers;
          error.body = Buffer.concat(chunks).toString('utf8');
          reject(error);
          req.destroy();
        });
      });
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.ws.on('error', () => {});
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8'), at: Date.now() }));
    });
    this.ws.on('message', (data, isBinary) => {
      let message;
      try {
        message = JSON.parse(isBinary ? data : data.toString('utf8'));
      } catch {
        return;
      }
      this.messages.push(message);
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.predicate(message)) return true;
        waiter.resolve(message);
        return false;
      });
    });
  }

  open() {
    return this.opened;
  }

  send(message) {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  waitFor(predicate, what, ms = 10_000) {
    const seen = this.messages.find(predicate);
    if (seen) return Promise.resolve(seen);
    return within(ms, new Promise((resolve) => this.waiters.push({ predicate, resolve })), what);
  }

  response(id, ms) {
    return this.waitFor((m) => m.id === id && ('result' in m || 'error' in m), `WebSocket response to id ${id}`, ms);
  }

  async request(id, method, params, ms) {
    this.send({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
    return this.response(id, ms);
  }

  async initialize(capabilities = {}) {
    await this.open();
    const response = await this.request(0, 'initialize', {
      protocolVersion: PROTOCOL_VERSION,
      capabilities,
      clientInfo: { name: 'bookmcp-e2e-ws', version: '1.0.0' },
    });
    this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return response;
  }

  terminate() {
    this.ws.terminate();
  }

  close(code, reason) {
    this.ws.close(code, reason);
  }
}

// ---------------------------------------------------------------------------------------------
// Metrics, auth material

// Reads /metrics into { text, value(name, labels) } (value: the sample, or 0 when absent).
export async function readMetrics(server) {
  const response = await request(server, { path: '/metrics' });
  if (response.status !== 200) throw new Error(`/metrics: HTTP ${response.status}`);
  const samples = new Map();
  for (const line of response.body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (match) samples.set(match[1] + (match[2] ?? ''), Number(match[3]));
  }
  return {
    text: response.body,
    headers: response.headers,
    value(name, labels = {}) {
      const wanted = Object.entries(labels);
      let total = 0;
      let found = false;
      for (const [key, value] of samples) {
        const brace = key.indexOf('{');
        const sampleName = brace < 0 ? key : key.slice(0, brace);
        if (sampleName !== name) continue;
        const labelText = brace < 0 ? '' : key.slice(brace);
        if (wanted.every(([label, v]) => labelText.includes(`${label}="${v}"`))) {
          total += value;
          found = true;
        }
      }
      return found ? total : 0;
    },
  };
}

// Polls /metrics until `predicate(metrics)` holds; resolves with the last metrics.
export async function waitForMetrics(server, predicate, what, ms = HANG_GUARD_MS) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await readMetrics(server);
    if (predicate(last)) return last;
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for metrics: ${what}\n${last?.text ?? ''}`);
}

// Writes an --auth-keys file into `dir`.
export function writeKeysFile(dir, lines) {
  const file = path.join(dir, 'keys.txt');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function base64url(data) {
  return Buffer.from(data).toString('base64url');
}

// An HS256 JWT signed with `secret` (header overridable for alg tests).
// A JWT signed with a private key (node:crypto KeyObject): RS256, or ES256/384/512 with the
// signature as raw R||S (RFC 7518 3.4), as issuers send it.
export function makeSignedJwt(payload, privateKey, alg) {
  const header = { alg, typ: 'JWT', kid: 'e2e' };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const hash = { RS256: 'sha256', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' }[alg];
  const signature = cryptoSign(hash, Buffer.from(signingInput), alg.startsWith('ES') ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

export function makeJwt(payload, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}
