// Shared helpers of the end-to-end tests: where the binaries are, how to start them through the
// official TypeScript client, and a raw newline-delimited JSON-RPC peer for transport tests.

import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';

// Generous: the shared machine has 2 cores and may be busy building.
export const TEST_TIMEOUT_MS = 60_000;

function requireBinary(variable, target) {
  const value = process.env[variable];
  if (!value) {
    throw new Error(
      `${variable} is not set: point it at the built ${target} executable ` +
        `(e.g. ${variable}=$PWD/build/${target}), or run the tests through ctest (ctest -L e2e), ` +
        'which sets it.',
    );
  }
  const file = path.resolve(value);
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(`${variable}=${value}: no executable file there; build the ${target} target first.`);
  }
  return file;
}

let bookmcpBin;
let fixturesBin;
export function bookmcpBinary() {
  bookmcpBin ??= requireBinary('BOOKMCP_BIN', 'bookmcp');
  return bookmcpBin;
}
export function fixturesBinary() {
  fixturesBin ??= requireBinary('BOOKMCP_FIXTURES_BIN', 'mcp_conformance_fixtures');
  return fixturesBin;
}

// The environment of a spawned server: the SDK's safe default (HOME, PATH, USER, ...) and nothing
// else. In particular no BOOKMCP_* variable of the harness leaks in: bookmcp refuses unknown
// BOOKMCP_ variables by design.
export function serverEnvironment(extra = {}) {
  return { ...getDefaultEnvironment(), ...extra };
}

// A fresh private data directory for one bookmcp process; removed by the returned cleanup.
export function temporaryDirectory(prefix = 'bookmcp-e2e-') {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// Connects an SDK client to a server started over stdio. Returns the client, the transport, the
// protocol version the client negotiated, the server's stderr so far, and the errors the
// client's protocol layer reported (unknown ids, unknown progress tokens, ...).
export async function connectStdio({
  command,
  args = [],
  env = serverEnvironment(),
  capabilities = {},
  clientInfo = { name: 'bookmcp-e2e', version: '1.0.0' },
} = {}) {
  const transport = new StdioClientTransport({ command, args, env, stderr: 'pipe' });
  const stderr = { text: '' };
  // Always drain the server's stderr so that a chatty server never blocks on a full pipe.
  transport.stderr?.on('data', (chunk) => {
    stderr.text += chunk.toString();
  });
  const session = { negotiatedVersion: undefined };
  // The client hands the negotiated version to transports that accept it (like the HTTP one).
  transport.setProtocolVersion = (version) => {
    session.negotiatedVersion = version;
  };
  const client = new Client(clientInfo, { capabilities });
  const protocolErrors = [];
  client.onerror = (error) => protocolErrors.push(error);
  await client.connect(transport);
  return {
    client,
    transport,
    stderr,
    protocolErrors,
    get negotiatedVersion() {
      return session.negotiatedVersion;
    },
    close: () => client.close(),
  };
}

export function connectFixtures(options = {}) {
  const { args = [], ...rest } = options;
  return connectStdio({ command: fixturesBinary(), args, ...rest });
}

export function textOf(result) {
  return result.content
    .filter((block) => block.type === 'text')
    .map((block) => block.text)
    .join('\n');
}

// Resolves with the value of `promise`, or rejects after `ms` with a message naming `what`.
export function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Runs a program to completion; resolves with its exit code, signal, stdout and stderr.
export function run(command, args, { env = serverEnvironment(), input, timeoutMs = 30_000, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(command)} ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A program that exits without reading its input (a configuration refused at start) may be
    // gone before the input is written: the write then fails with EPIPE (or ECONNRESET), which
    // without a listener would throw in the test process. What the test checks is the exit
    // status and the output, reported on 'close' as usual.
    child.stdin.on('error', (error) => {
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') return;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

// A raw JSON-RPC peer over a child's stdin/stdout: writes lines, records every stdout line, and
// waits for messages by predicate (event driven, no polling).
export class RawPeer {
  constructor(command, args = [], { env = serverEnvironment() } = {}) {
    this.child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.lines = [];
    this.messages = [];
    this.stderr = '';
    this.waiters = [];
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk));
    // A broken pipe after the server exits must not crash the test process.
    this.child.stdin.on('error', () => {});
    const reader = createInterface({ input: this.child.stdout, crlfDelay: Infinity });
    reader.on('line', (line) => {
      this.lines.push(line);
      let message;
      try {
        message = JSON.parse(line);
      } catch {
        return; // kept in `lines`; assertJsonRpcOnly reports it
      }
      this.messages.push(message);
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.predicate(message)) return true;
        waiter.resolve(message);
        return false;
      });
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
    });
  }

  // Writes raw text (a newline is not added) and resolves once it is handed to the pipe.
  write(text) {
    return new Promise((resolve, reject) => {
      this.child.stdin.write(text, (error) => (error ? reject(error) : resolve()));
    });
  }

  send(message) {
    return this.write(JSON.stringify(message) + '\n');
  }

  waitFor(predicate, what, ms = 30_000) {
    const seen = this.messages.find(predicate);
    if (seen) return Promise.resolve(seen);
    const promise = new Promise((resolve) => this.waiters.push({ predicate, resolve }));
    return within(ms, promise, `${what} (stderr so far: ${this.stderr.slice(-2000)})`);
  }

  // Waits for the response with the given id, among messages not yet consumed by this call.
  response(id, ms) {
    return this.waitFor((m) => m.id === id && ('result' in m || 'error' in m) && !('method' in m), `response to id ${JSON.stringify(id)}`, ms);
  }

  async request(id, method, params) {
    await this.send({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
    return this.response(id);
  }

  async initialize(protocolVersion = '2025-11-25', id = 0) {
    const response = await this.request(id, 'initialize', {
      protocolVersion,
      capabilities: {},
      clientInfo: { name: 'bookmcp-e2e-raw', version: '1.0.0' },
    });
    await this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return response;
  }

  closeInput() {
    this.child.stdin.end();
  }

  kill() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

// Every stdout line of a stdio server must be one JSON-RPC 2.0 message (or, where the 2025-03-26
// batches are allowed, a non-empty array of them).
export function jsonRpcViolations(lines, { batches = false } = {}) {
  const isMessage = (m) => m !== null && typeof m === 'object' && !Array.isArray(m) && m.jsonrpc === '2.0';
  const bad = [];
  for (const line of lines) {
    try {
      const message = JSON.parse(line);
      const ok = isMessage(message) || (batches && Array.isArray(message) && message.length > 0 && message.every(isMessage));
      if (!ok) bad.push(line);
    } catch {
      bad.push(line);
    }
  }
  return bad.map((line) => (line.length > 200 ? line.slice(0, 200) + '...' : line));
}
