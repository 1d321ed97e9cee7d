// bookmcp's own tools in the 2026-07-28 revision (stateless requests), over stdio and Streamable
// HTTP through the official v2 client (@modelcontextprotocol/client, which speaks 2026-07-28 when
// asked to negotiate: versionNegotiation 'auto'), and over WebSocket through a client written
// here from the revision's schema (the v2 client has no WebSocket transport). The handshake-era
// suites (stdio, network, book) keep running through the v1 SDK beside it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

import { SAMPLE_BOOK } from './book-helpers.mjs';
import { TEST_TIMEOUT_MS, bookmcpBinary, serverEnvironment, temporaryDirectory } from './helpers.mjs';
import { RawWs, post, startBookmcp } from './network-helpers.mjs';

const MODERN = '2026-07-28';
const META = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'bookmcp-e2e-modern', version: '1.0.0' },
};

function textOf(result) {
  return (result.content ?? []).filter((block) => block.type === 'text').map((block) => block.text).join('\n');
}

// What every transport must do with bookmcp's tools in the new era: search the book with
// citations, add and list a todo, read a page, and refuse what the revision removed.
async function exerciseBookAndTodos(call) {
  const tools = await call('tools/list', {});
  const names = tools.tools.map((tool) => tool.name);
  assert.ok(names.includes('search_book') && names.includes('todo_add'), names.join(','));
  assert.deepEqual(names, [...names].sort(), 'tools/list in a stable (sorted) order');
  const found = await call('tools/call', { name: 'search_book', arguments: { query: 'how to tune a PID controller', limit: 3 } });
  assert.notEqual(found.isError, true, textOf(found));
  assert.match(textOf(found), /#|\]/, 'the answer cites sections');
  const title = `read chapter 2 ${Date.now()}`;
  const added = await call('tools/call', { name: 'todo_add', arguments: { title } });
  assert.notEqual(added.isError, true, textOf(added));
  const listed = await call('tools/call', { name: 'todo_list', arguments: {} });
  assert.match(JSON.stringify(listed), new RegExp(title));
}

describe('2026-07-28 over stdio (official v2 client)', { timeout: 3 * TEST_TIMEOUT_MS }, () => {
  let data;
  let client;
  before(async () => {
    data = temporaryDirectory();
    client = new Client({ name: 'bookmcp-e2e-modern', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(
      new StdioClientTransport({
        command: bookmcpBinary(),
        args: ['--stdio', '--data-dir', data.dir, '--docs', SAMPLE_BOOK],
        env: serverEnvironment(),
        stderr: 'ignore',
      }),
    );
  });
  after(async () => {
    await client?.close();
    data?.cleanup();
  });

  it('negotiates 2026-07-28 by server/discover, no initialize', () => {
    assert.equal(client.getNegotiatedProtocolVersion?.() ?? client.protocolVersion, MODERN);
  });

  it('searches the book and keeps todos', async () => {
    await exerciseBookAndTodos(async (method, params) => {
      if (method === 'tools/list') return client.listTools();
      return client.callTool(params);
    });
  });
});

describe('2026-07-28 over Streamable HTTP (official v2 client, no session)', { timeout: 3 * TEST_TIMEOUT_MS }, () => {
  let server;
  let client;
  const seen = [];
  before(async () => {
    server = await startBookmcp({ args: ['--docs', SAMPLE_BOOK] });
    const watching = async (url, init) => {
      const response = await fetch(url, init);
      seen.push({ method: init?.method, headers: new Headers(init?.headers), session: response.headers.get('mcp-session-id') });
      return response;
    };
    client = new Client({ name: 'bookmcp-e2e-modern', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.base}/mcp`), { fetch: watching }));
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });

  it('searches the book and keeps todos, one POST per request and no session', async () => {
    assert.equal(client.getNegotiatedProtocolVersion?.() ?? client.protocolVersion, MODERN);
    await exerciseBookAndTodos(async (method, params) => {
      if (method === 'tools/list') return client.listTools();
      return client.callTool(params);
    });
    assert.ok(seen.length >= 4);
    for (const item of seen) {
      assert.equal(item.method, 'POST');
      assert.equal(item.headers.get('mcp-protocol-version'), MODERN);
      assert.equal(item.session, null, 'no Mcp-Session-Id is minted');
    }
  });

  it('index_documents runs as a task that is polled to its end', async () => {
    const meta = {
      ...META,
      'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } },
    };
    const headers = (method, name) => ({ 'MCP-Protocol-Version': MODERN, 'Mcp-Method': method, ...(name ? { 'Mcp-Name': name } : {}) });
    const created = await post(
      server,
      { jsonrpc: '2.0', id: 20, method: 'tools/call', params: { name: 'index_documents', arguments: {}, _meta: meta } },
      undefined,
      headers('tools/call', 'index_documents'),
    );
    assert.equal(created.status, 200, created.body);
    const task = JSON.parse(created.body).result;
    assert.equal(task.resultType, 'task');
    let state;
    for (let i = 0; i < 600; ++i) {
      const polled = await post(
        server,
        { jsonrpc: '2.0', id: 100 + i, method: 'tasks/get', params: { taskId: task.taskId, _meta: meta } },
        undefined,
        headers('tasks/get', task.taskId),
      );
      state = JSON.parse(polled.body).result;
      if (['completed', 'failed', 'cancelled'].includes(state.status)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(state.status, 'completed', JSON.stringify(state));
    assert.equal(state.result.structuredContent.cancelled, false);
    assert.ok(state.result.structuredContent.added + state.result.structuredContent.unchanged > 0, JSON.stringify(state.result));
  });

  it('refuses a header that disagrees with the body (400, -32020) and answers 404 for a removed method', async () => {
    const message = { jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: META } };
    const mismatch = await post(server, message, undefined, { 'MCP-Protocol-Version': MODERN, 'Mcp-Method': 'prompts/list' });
    assert.equal(mismatch.status, 400);
    assert.equal(JSON.parse(mismatch.body).error.code, -32020);
    const removed = await post(server, { jsonrpc: '2.0', id: 8, method: 'ping', params: { _meta: META } }, undefined, {
      'MCP-Protocol-Version': MODERN,
      'Mcp-Method': 'ping',
    });
    assert.equal(removed.status, 404);
    assert.equal(JSON.parse(removed.body).error.code, -32601);
  });
});

describe('2026-07-28 over WebSocket (a client written from the schema)', { timeout: 3 * TEST_TIMEOUT_MS }, () => {
  let server;
  let ws;
  let next = 1;
  const call = async (method, params) => {
    const id = next++;
    const answer = await ws.request(id, method, { ...params, _meta: META });
    assert.equal(answer.error, undefined, JSON.stringify(answer.error));
    assert.equal(answer.result.resultType, 'complete', JSON.stringify(answer.result));
    return answer.result;
  };
  before(async () => {
    server = await startBookmcp({ args: ['--docs', SAMPLE_BOOK] });
    ws = new RawWs(server);
    await ws.open();
  });
  after(async () => {
    ws?.close();
    await server?.stop();
  });

  it('discovers the server without a handshake', async () => {
    const discovered = await call('server/discover', {});
    assert.deepEqual(discovered.supportedVersions, [MODERN]);
    assert.equal(discovered._meta['io.modelcontextprotocol/serverInfo'].name, 'bookmcp');
    assert.ok(Number.isInteger(discovered.ttlMs) && ['public', 'private'].includes(discovered.cacheScope));
  });

  it('searches the book and keeps todos on the same connection', async () => {
    await exerciseBookAndTodos(call);
  });

  it('an unsupported version lists the supported ones', async () => {
    const answer = await ws.request(next++, 'tools/list', {
      _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '1999-01-01' },
    });
    assert.equal(answer.error.code, -32022);
    assert.deepEqual(answer.error.data, { supported: [MODERN], requested: '1999-01-01' });
  });
});
