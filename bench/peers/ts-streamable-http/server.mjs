// A minimal Streamable HTTP MCP server on the official TypeScript SDK, stateful (one session
// id per initialize, one McpServer per session, as the SDK's examples do), with the same
// trivial `echo` tool as bookmcp's conformance fixtures. The peer bookmcp is measured against.
//
//   node server.mjs [--host 127.0.0.1] [--port 0] [--sse]
//
// Prints "listening on HOST:PORT" on stdout once bound. Answers POSTs with application/json
// (enableJsonResponse), like bookmcp does when a call emits no notifications; --sse answers
// with an SSE stream instead, the SDK's default.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

// Node's own option parser: unknown options and missing values are errors.
function parseArguments(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      sse: { type: 'boolean', default: false },
    },
  });
  const options = { host: values.host, port: Number(values.port), sse: values.sse };
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new Error('--port wants 0..65535');
  return options;
}

function makeServer() {
  const server = new McpServer({ name: 'ts-streamable-http-peer', version: '0.0.0' });
  server.registerTool(
    'echo',
    {
      description: 'Returns the given text unchanged.',
      inputSchema: { text: z.string() },
      annotations: { readOnlyHint: true },
    },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function sendError(response, status, message) {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

const options = parseArguments(process.argv.slice(2));
const transports = new Map(); // session id -> transport

async function handle(request, response) {
  const path = (request.url ?? '').split('?')[0];
  if (path !== '/mcp') return sendError(response, 404, 'Not Found');
  const sessionId = request.headers['mcp-session-id'];
  let body;
  if (request.method === 'POST') {
    try {
      body = JSON.parse(await readBody(request));
    } catch {
      return sendError(response, 400, 'Parse error');
    }
  }
  let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
  if (!transport) {
    if (sessionId !== undefined) return sendError(response, 404, 'Session not found');
    if (request.method !== 'POST' || !isInitializeRequest(body)) {
      return sendError(response, 400, 'Bad Request: no valid session id');
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: !options.sse,
      onsessioninitialized: (id) => transports.set(id, transport),
    });
    transport.onclose = () => {
      if (transport.sessionId) transports.delete(transport.sessionId);
    };
    await makeServer().connect(transport);
  }
  await transport.handleRequest(request, response, body);
}

const httpServer = createServer((request, response) => {
  handle(request, response).catch((error) => {
    console.error('request failed:', error);
    if (!response.headersSent) sendError(response, 500, 'Internal error');
    else response.end();
  });
});
httpServer.keepAliveTimeout = 300_000;
httpServer.listen(options.port, options.host, () => {
  const { address, port } = httpServer.address();
  console.log(`listening on ${address}:${port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const transport of transports.values()) transport.close().catch(() => {});
    httpServer.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
