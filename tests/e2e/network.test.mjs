// The network listener (`--listen HOST:PORT`): MCP over Streamable HTTP and WebSocket on /mcp,
// the ops routes, authentication (API keys, HS256 JWT), Origin/Host checks, rate limits, size
// limits and graceful shutdown, driven through the official SDK client and by hand.
//
// bookmcp has no tools yet, so everything that needs a tool call (progress, cancellation,
// sampling, elicitation, shutdown with calls in flight) runs against the fixture program
// (`mcp_conformance_fixtures --listen 127.0.0.1:0`, whose tools include `wait` and `echo`); the
// settings only bookmcp has (auth, limits, --shutdown-grace) are tested on bookmcp.

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import { TEST_TIMEOUT_MS, temporaryDirectory, textOf, within } from './helpers.mjs';
import {
  HANG_GUARD_MS,
  POST_HEADERS,
  PROTOCOL_VERSION,
  RawWs,
  TRANSPORTS,
  connectHttp,
  initializeRaw,
  makeJwt,
  makeSignedJwt,
  openStream,
  post,
  readMetrics,
  request,
  sleep,
  startBookmcp,
  startFixtures,
  waitForMetrics,
  waitForStderr,
  writeKeysFile,
} from './network-helpers.mjs';

const SUITE = { timeout: 10 * TEST_TIMEOUT_MS };
const ping = (id) => ({ jsonrpc: '2.0', id, method: 'ping' });

function cancelledCalls(metrics) {
  return metrics.value('bookmcp_requests_total', { method: 'tools/call', outcome: 'cancelled' });
}

// Waits until the server has counted one more cancelled tools/call than `before` and has no call
// in flight.
async function expectCancelledOnServer(server, before, how) {
  await waitForMetrics(
    server,
    (m) => cancelledCalls(m) >= before + 1 && m.value('bookmcp_calls_in_flight') === 0,
    `a cancelled tools/call after ${how} (had ${before}) and calls_in_flight 0`,
  );
}

// =============================================================================================
// The fixture program: tool calls over both transports
// =============================================================================================

describe('fixture program over the network (SDK client)', SUITE, () => {
  let server;
  before(async () => {
    server = await startFixtures();
  });
  after(async () => {
    await server?.stop();
  });

  for (const [transportName, connect] of Object.entries(TRANSPORTS)) {
    describe(transportName, () => {
      let session;
      before(async () => {
        session = await connect(server, {
          capabilities: { sampling: {}, elicitation: {} },
          setup: (client) => {
            client.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
              role: 'assistant',
              model: 'e2e-model',
              stopReason: 'endTurn',
              content: { type: 'text', text: `sampled: ${request.params.messages[0].content.text}` },
            }));
            client.setRequestHandler(ElicitRequestSchema, async (request) => ({
              action: 'accept',
              content: { username: 'e2e-user', email: 'e2e@example.org', echoed: request.params.message },
            }));
          },
        });
      });
      after(async () => {
        await session?.close();
      });

      it('initializes: server info, protocol version, capabilities', () => {
        const info = session.client.getServerVersion();
        assert.equal(info.name, 'bookmcp-conformance-fixtures');
        assert.ok(session.client.getServerCapabilities()?.tools, 'tools capability');
        if (transportName === 'Streamable HTTP') {
          assert.match(session.transport.sessionId ?? '', /\S{8,}/, 'an Mcp-Session-Id was issued');
          assert.equal(session.transport.protocolVersion, PROTOCOL_VERSION);
        }
      });

      it('lists tools, including echo and wait', async () => {
        const { tools } = await session.client.listTools();
        const names = tools.map((tool) => tool.name);
        for (const name of ['echo', 'wait', 'test_simple_text', 'test_sampling']) assert.ok(names.includes(name), name);
      });

      it('calls echo', async () => {
        const text = `héllo ${transportName} ✓ "quoted" \n newline`;
        const result = await session.client.callTool({ name: 'echo', arguments: { text } });
        assert.equal(textOf(result), text);
        assert.notEqual(result.isError, true);
      });

      it('calls wait and receives progress notifications', async () => {
        const progress = [];
        const started = Date.now();
        const result = await session.client.callTool({ name: 'wait', arguments: { ms: 500 } }, undefined, {
          onprogress: (p) => progress.push(p),
        });
        assert.ok(Date.now() - started >= 450, 'the call took about 500 ms');
        assert.deepEqual(result.structuredContent, { waited_ms: 500 });
        // Every 100 ms; the SDK may drop the last one (typescript-sdk #2580).
        assert.ok(progress.length >= 3, `progress notifications: ${JSON.stringify(progress)}`);
        for (let i = 1; i < progress.length; ++i) assert.ok(progress[i].progress > progress[i - 1].progress, 'monotonic');
        assert.ok(progress.every((p) => p.total === 500));
      });

      it('cancels a call by AbortSignal (notifications/cancelled); the server stops it', async () => {
        const before = cancelledCalls(await readMetrics(server));
        const controller = new AbortController();
        let progressSeen;
        const firstProgress = new Promise((resolve) => (progressSeen = resolve));
        const call = session.client.callTool({ name: 'wait', arguments: { ms: 20_000 } }, undefined, {
          signal: controller.signal,
          onprogress: () => progressSeen(),
        });
        await within(HANG_GUARD_MS, firstProgress, 'the first progress notification');
        controller.abort('e2e cancels');
        await assert.rejects(call, (error) => /cancel|abort/i.test(String(error?.message ?? error)) || error === 'e2e cancels');
        await expectCancelledOnServer(server, before, 'AbortSignal');
        // The session still works.
        const result = await session.client.callTool({ name: 'echo', arguments: { text: 'after cancel' } });
        assert.equal(textOf(result), 'after cancel');
      });

      it('sampling round trip (server -> client sampling/createMessage)', async () => {
        const result = await session.client.callTool({ name: 'test_sampling', arguments: { prompt: 'What is 2+2?' } });
        assert.equal(textOf(result), 'LLM response: sampled: What is 2+2?');
      });

      it('elicitation round trip (server -> client elicitation/create)', async () => {
        const result = await session.client.callTool({ name: 'test_elicitation', arguments: { message: 'Who are you?' } });
        assert.match(textOf(result), /^User response: action=accept, content=\{/);
        assert.match(textOf(result), /"username":"e2e-user"/);
        assert.match(textOf(result), /"echoed":"Who are you\?"/);
      });

      it('runs concurrent calls on one session', async () => {
        const calls = Array.from({ length: 8 }, (_, i) =>
          session.client.callTool({ name: i % 2 ? 'echo' : 'wait', arguments: i % 2 ? { text: `c${i}` } : { ms: 200 } }),
        );
        const results = await Promise.all(calls);
        results.forEach((result, i) => {
          if (i % 2) assert.equal(textOf(result), `c${i}`);
          else assert.deepEqual(result.structuredContent, { waited_ms: 200 });
        });
      });
    });
  }
});

describe('fixture program: cancellation by the connection (raw)', SUITE, () => {
  let server;
  before(async () => {
    server = await startFixtures();
  });
  after(async () => {
    await server?.stop();
  });

  async function startWaitOnWs(ms = 20_000) {
    const ws = new RawWs(server);
    await ws.initialize();
    ws.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'wait', arguments: { ms }, _meta: { progressToken: 'w' } } });
    await ws.waitFor((m) => m.method === 'notifications/progress' && m.params.progressToken === 'w', 'a progress notification');
    return ws;
  }

  for (const [how, end] of [
    ['an abrupt TCP close', (ws) => ws.terminate()],
    ['a WebSocket close frame', (ws) => ws.close(1000, 'bye')],
  ]) {
    it(`closing the WebSocket (${how}) cancels its in-flight call`, async () => {
      const before = await readMetrics(server);
      const ws = await startWaitOnWs();
      assert.equal((await readMetrics(server)).value('bookmcp_calls_in_flight'), 1);
      end(ws);
      await expectCancelledOnServer(server, cancelledCalls(before), how);
      await waitForMetrics(
        server,
        (m) => m.value('bookmcp_active_sessions', { transport: 'websocket' }) === before.value('bookmcp_active_sessions', { transport: 'websocket' }),
        'the WebSocket session is gone',
      );
    });
  }

  it('WebSocket: notifications/cancelled stops the call and no response follows', async () => {
    const before = cancelledCalls(await readMetrics(server));
    const ws = await startWaitOnWs();
    ws.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'e2e' } });
    await expectCancelledOnServer(server, before, 'notifications/cancelled on WebSocket');
    const pong = await ws.request(8, 'ping');
    assert.deepEqual(pong.result, {});
    assert.equal(ws.messages.filter((m) => m.id === 7).length, 0, 'a cancelled request gets no response');
    ws.close();
  });

  it('Streamable HTTP: dropping the POST stream cancels the call', async () => {
    const session = await initializeRaw(server);
    const before = cancelledCalls(await readMetrics(server));
    const stream = await openStream(server, {
      method: 'POST',
      headers: { ...POST_HEADERS, 'mcp-session-id': session.id, 'mcp-protocol-version': session.version },
      body: { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'wait', arguments: { ms: 20_000 }, _meta: { progressToken: 'h' } } },
    });
    assert.equal(stream.status, 200);
    await stream.next((e) => e.json?.method === 'notifications/progress', HANG_GUARD_MS, 'a progress event');
    stream.close();
    await expectCancelledOnServer(server, before, 'the HTTP client disconnected');
  });

  it('Streamable HTTP: DELETE of the session cancels its calls and ends their POST streams', async () => {
    const session = await initializeRaw(server);
    const before = cancelledCalls(await readMetrics(server));
    const stream = await openStream(server, {
      method: 'POST',
      headers: { ...POST_HEADERS, 'mcp-session-id': session.id, 'mcp-protocol-version': session.version },
      body: { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'wait', arguments: { ms: 20_000 }, _meta: { progressToken: 'd' } } },
    });
    try {
      await stream.next((e) => e.json?.method === 'notifications/progress', HANG_GUARD_MS, 'a progress event');
      const removed = await request(server, { method: 'DELETE', path: '/mcp', headers: { 'mcp-session-id': session.id } });
      assert.equal(removed.status, 200);
      await expectCancelledOnServer(server, before, 'DELETE of the session');
      await within(HANG_GUARD_MS, stream.ended, 'the end of the POST stream with its session');
    } finally {
      stream.close();
    }
  });

  it('Streamable HTTP: notifications/cancelled stops the call and ends its POST stream', async () => {
    const session = await initializeRaw(server);
    const before = cancelledCalls(await readMetrics(server));
    const stream = await openStream(server, {
      method: 'POST',
      headers: { ...POST_HEADERS, 'mcp-session-id': session.id, 'mcp-protocol-version': session.version },
      body: { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'wait', arguments: { ms: 20_000 }, _meta: { progressToken: 'c' } } },
    });
    await stream.next((e) => e.json?.method === 'notifications/progress', HANG_GUARD_MS, 'a progress event');
    const cancel = await post(server, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 4, reason: 'e2e' } }, session);
    assert.equal(cancel.status, 202);
    try {
      await expectCancelledOnServer(server, before, 'notifications/cancelled over HTTP');
      // The request will never be answered, so its stream has nothing more to carry: the server
      // must end it rather than hold the connection (and the session, which counts as busy)
      // open forever.
      await within(HANG_GUARD_MS, stream.ended, 'the end of the POST SSE stream of a cancelled request');
      assert.equal(stream.events.filter((e) => e.json?.id === 4).length, 0, 'no response to a cancelled request');
    } finally {
      stream.close();
    }
  });
});

// =============================================================================================
// Streamable HTTP by hand
// =============================================================================================

describe('Streamable HTTP transport (raw requests)', SUITE, () => {
  let bookmcp;
  let fixtures;
  before(async () => {
    [bookmcp, fixtures] = await Promise.all([startBookmcp(), startFixtures()]);
  });
  after(async () => {
    await Promise.all([bookmcp?.stop(), fixtures?.stop()]);
  });

  it('initialize answers application/json with an Mcp-Session-Id', async () => {
    const response = await post(bookmcp, {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    assert.equal(response.status, 200, response.body);
    assert.match(response.headers['content-type'], /^application\/json/);
    assert.match(response.headers['mcp-session-id'] ?? '', /^[\x21-\x7e]{8,}$/, 'visible ASCII session id');
    assert.equal(response.json.id, 0);
    assert.equal(response.json.result.protocolVersion, PROTOCOL_VERSION);
    assert.equal(response.json.result.serverInfo.name, 'bookmcp');
  });

  it('a notification POST answers 202 with no body', async () => {
    const session = await initializeRaw(bookmcp); // asserts 202 for notifications/initialized
    const response = await post(bookmcp, { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, session);
    assert.equal(response.status, 202);
    assert.equal(response.body, '');
  });

  it('a request without Mcp-Session-Id answers 400', async () => {
    const response = await post(bookmcp, ping(1), { version: PROTOCOL_VERSION });
    assert.equal(response.status, 400, response.body);
    assert.equal(response.json?.jsonrpc, '2.0');
    assert.match(response.json?.error?.message ?? '', /Mcp-Session-Id/i);
  });

  it('an unknown session answers 404', async () => {
    const response = await post(bookmcp, ping(1), { id: 'no-such-session-0123456789', version: PROTOCOL_VERSION });
    assert.equal(response.status, 404, response.body);
    assert.ok(response.json?.error, 'a JSON-RPC error body');
  });

  it('an unsupported MCP-Protocol-Version answers 400', async () => {
    const session = await initializeRaw(bookmcp);
    const response = await post(bookmcp, ping(1), { ...session, version: '1999-01-01' });
    assert.equal(response.status, 400, response.body);
    assert.match(response.json?.error?.message ?? '', /MCP-Protocol-Version/i);
    const ok = await post(bookmcp, ping(2), session);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { jsonrpc: '2.0', id: 2, result: {} });
  });

  it('DELETE ends the session; afterwards it answers 404', async () => {
    const session = await initializeRaw(bookmcp);
    const removed = await request(bookmcp, {
      method: 'DELETE',
      path: '/mcp',
      headers: { 'mcp-session-id': session.id, 'mcp-protocol-version': session.version },
    });
    assert.equal(removed.status, 200, removed.body);
    const after = await post(bookmcp, ping(1), session);
    assert.equal(after.status, 404, after.body);
    const again = await request(bookmcp, { method: 'DELETE', path: '/mcp', headers: { 'mcp-session-id': session.id } });
    assert.equal(again.status, 404);
  });

  it('GET opens the session\'s SSE stream (200, text/event-stream, held open); one per session; DELETE ends it', async () => {
    const session = await initializeRaw(bookmcp);
    const headers = { accept: 'text/event-stream', 'mcp-session-id': session.id, 'mcp-protocol-version': session.version };
    const stream = await openStream(bookmcp, { headers });
    try {
      assert.equal(stream.status, 200);
      assert.match(stream.headers['content-type'], /^text\/event-stream/);
      assert.equal(stream.headers['cache-control'], 'no-cache');
      const early = await Promise.race([stream.ended, sleep(500).then(() => 'open')]);
      assert.equal(early, 'open', 'the GET stream stays open');
      const second = await request(bookmcp, { path: '/mcp', headers });
      assert.equal(second.status, 409, 'a second GET stream on the same session is refused');
      const removed = await request(bookmcp, { method: 'DELETE', path: '/mcp', headers: { 'mcp-session-id': session.id } });
      assert.equal(removed.status, 200);
      await within(HANG_GUARD_MS, stream.ended, 'the end of the GET stream after DELETE');
    } finally {
      stream.close();
    }
  });

  it('GET without Accept: text/event-stream answers 406; without a session 400', async () => {
    const session = await initializeRaw(bookmcp);
    const noAccept = await request(bookmcp, { path: '/mcp', headers: { accept: 'application/json', 'mcp-session-id': session.id } });
    assert.equal(noAccept.status, 406);
    const noSession = await request(bookmcp, { path: '/mcp', headers: { accept: 'text/event-stream' } });
    assert.equal(noSession.status, 400);
  });

  it('refuses bad POSTs: Accept (406), Content-Type (415), JSON (400 -32700), second initialize (400), method (405)', async () => {
    const session = await initializeRaw(bookmcp);
    const accept = await request(bookmcp, {
      method: 'POST',
      path: '/mcp',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'mcp-session-id': session.id },
      body: ping(1),
    });
    assert.equal(accept.status, 406);
    const type = await request(bookmcp, {
      method: 'POST',
      path: '/mcp',
      headers: { 'content-type': 'text/plain', accept: POST_HEADERS.accept, 'mcp-session-id': session.id },
      body: ping(1),
    });
    assert.equal(type.status, 415);
    const parse = await post(bookmcp, '{"jsonrpc":"2.0","id":1,', session);
    assert.equal(parse.status, 400);
    assert.equal(parse.json?.error?.code, -32700);
    assert.equal(parse.json?.id, null);
    const reinit = await post(
      bookmcp,
      { jsonrpc: '2.0', id: 9, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'x', version: '1' } } },
      session,
    );
    assert.equal(reinit.status, 400);
    const put = await request(bookmcp, { method: 'PUT', path: '/mcp', headers: POST_HEADERS, body: ping(1) });
    assert.equal(put.status, 405);
    assert.match(put.headers.allow ?? '', /POST/);
  });

  it('a plain tool call answers application/json', async () => {
    const session = await initializeRaw(fixtures);
    const response = await post(fixtures, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'plain' } } }, session);
    assert.equal(response.status, 200);
    assert.match(response.headers['content-type'], /^application\/json/);
    assert.equal(response.json.result.content[0].text, 'plain');
  });

  it('a tool call with a progressToken answers text/event-stream: progress events, then the result', async () => {
    const session = await initializeRaw(fixtures);
    const response = await post(
      fixtures,
      { jsonrpc: '2.0', id: 'p-1', method: 'tools/call', params: { name: 'wait', arguments: { ms: 350 }, _meta: { progressToken: 42 } } },
      session,
    );
    assert.equal(response.status, 200);
    assert.match(response.headers['content-type'], /^text\/event-stream/);
    const messages = response.events.map((e) => e.json);
    assert.ok(messages.every(Boolean), `every event is JSON: ${response.body}`);
    const last = messages.at(-1);
    assert.equal(last.id, 'p-1', 'the result comes last');
    assert.deepEqual(last.result.structuredContent, { waited_ms: 350 });
    const progress = messages.slice(0, -1);
    assert.ok(progress.length >= 2, `progress events before the result: ${response.body}`);
    for (const message of progress) {
      assert.equal(message.method, 'notifications/progress');
      assert.equal(message.params.progressToken, 42);
    }
  });

  it('a request id already in flight is refused without stealing the first request\'s stream', async () => {
    const session = await initializeRaw(fixtures);
    // The first call is in flight once its first progress event is in (not after a guessed
    // delay), and runs long past the duplicate's answer.
    const first = await openStream(fixtures, {
      method: 'POST',
      headers: { ...POST_HEADERS, 'mcp-session-id': session.id, 'mcp-protocol-version': session.version },
      body: { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'wait', arguments: { ms: 3000 }, _meta: { progressToken: 'first' } } },
    });
    try {
      await first.next((e) => e.json?.method === 'notifications/progress', HANG_GUARD_MS, 'a progress event of the first request');
      const duplicate = await post(fixtures, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { text: 'dup' } } }, session);
      assert.equal(duplicate.status, 200);
      assert.equal(duplicate.json?.error?.code, -32600, duplicate.body);
      assert.equal(first.status, 200);
      const answer = await first.next((e) => e.json?.id === 9, HANG_GUARD_MS, 'the answer to the first request with id 9');
      assert.deepEqual(answer.json?.result?.structuredContent, { waited_ms: 3000 }, JSON.stringify(answer.json));
    } finally {
      first.close();
    }
  });

  it('serves a sampling round trip on the POST stream, with the answer POSTed separately (202)', async () => {
    const session = await initializeRaw(fixtures, { capabilities: { sampling: {} } });
    const stream = await openStream(fixtures, {
      method: 'POST',
      headers: { ...POST_HEADERS, 'mcp-session-id': session.id, 'mcp-protocol-version': session.version },
      body: { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'test_sampling', arguments: { prompt: 'raw?' } } },
    });
    try {
      assert.match(stream.headers['content-type'], /^text\/event-stream/);
      const ask = await stream.next((e) => e.json?.method === 'sampling/createMessage', HANG_GUARD_MS, 'sampling/createMessage');
      const answer = await post(
        fixtures,
        { jsonrpc: '2.0', id: ask.json.id, result: { role: 'assistant', model: 'm', content: { type: 'text', text: 'raw!' } } },
        session,
      );
      assert.equal(answer.status, 202);
      const result = await stream.next((e) => e.json?.id === 5, 10_000, 'the tools/call result');
      assert.equal(result.json.result.content[0].text, 'LLM response: raw!');
    } finally {
      stream.close();
    }
  });
});

// =============================================================================================
// Ops routes and metrics
// =============================================================================================

describe('ops routes', SUITE, () => {
  let bookmcp;
  let fixtures;
  before(async () => {
    [bookmcp, fixtures] = await Promise.all([startBookmcp(), startFixtures()]);
  });
  after(async () => {
    await Promise.all([bookmcp?.stop(), fixtures?.stop()]);
  });

  it('/healthz answers 200', async () => {
    const response = await request(bookmcp, { path: '/healthz' });
    assert.equal(response.status, 200);
    assert.deepEqual(response.json, { status: 'ok' });
  });

  it('/readyz answers 200 with a JSON report', async () => {
    const response = await request(bookmcp, { path: '/readyz' });
    assert.equal(response.status, 200);
    assert.match(response.headers['content-type'], /^application\/json/);
    assert.equal(response.json.status, 'ready');
    assert.equal(typeof response.json.dependencies, 'object');
  });

  it('an unknown path answers 404', async () => {
    const response = await request(bookmcp, { path: '/nope' });
    assert.equal(response.status, 404);
  });

  it('/metrics serves Prometheus text with the request, session, in-flight and rejection series', async () => {
    await initializeRaw(bookmcp);
    await post(bookmcp, ping(1), { id: 'unknown-session-for-metrics', version: PROTOCOL_VERSION }); // a rejection
    const metrics = await readMetrics(bookmcp);
    assert.match(metrics.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    for (const series of [
      '# TYPE bookmcp_requests_total counter',
      '# TYPE bookmcp_tool_call_duration_seconds histogram',
      '# TYPE bookmcp_active_sessions gauge',
      '# TYPE bookmcp_calls_in_flight gauge',
      '# TYPE bookmcp_rejected_requests_total counter',
    ]) {
      assert.ok(metrics.text.includes(series), `${series}\n${metrics.text}`);
    }
    assert.ok(metrics.value('bookmcp_requests_total', { method: 'initialize', outcome: 'ok' }) >= 1, metrics.text);
    assert.ok(metrics.value('bookmcp_active_sessions', { transport: 'http' }) >= 1, metrics.text);
    assert.equal(metrics.value('bookmcp_calls_in_flight'), 0);
    assert.ok(metrics.value('bookmcp_rejected_requests_total', { reason: 'unknown_session' }) >= 1, metrics.text);
  });

  it('/metrics has tool call duration buckets after tool calls (fixtures)', async () => {
    const session = await initializeRaw(fixtures);
    await post(fixtures, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'm' } } }, session);
    const metrics = await readMetrics(fixtures);
    assert.match(metrics.text, /^bookmcp_tool_call_duration_seconds_bucket\{tool="echo",le="\+Inf"\} [1-9]\d*$/m);
    assert.match(metrics.text, /^bookmcp_tool_call_duration_seconds_count\{tool="echo"\} [1-9]/m);
    assert.ok(metrics.value('bookmcp_requests_total', { method: 'tools/call', outcome: 'ok' }) >= 1);
  });
});

// =============================================================================================
// Origin and Host
// =============================================================================================

describe('Origin and Host checks', SUITE, () => {
  let bookmcp;
  let listed;
  before(async () => {
    [bookmcp, listed] = await Promise.all([startBookmcp(), startBookmcp({ args: ['--allowed-origin', 'https://app.example'] })]);
  });
  after(async () => {
    await Promise.all([bookmcp?.stop(), listed?.stop()]);
  });

  const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'o', version: '1' } } };

  it('a foreign Origin is refused with 403', async () => {
    const response = await post(bookmcp, initialize, null, { origin: 'http://evil.example' });
    assert.equal(response.status, 403, response.body);
    assert.match(response.json?.error?.message ?? '', /origin/i);
  });

  it('a loopback Origin is accepted by default', async () => {
    const response = await post(bookmcp, initialize, null, { origin: `http://localhost:${bookmcp.port}` });
    assert.equal(response.status, 200, response.body);
  });

  it('--allowed-origin admits that origin and no other', async () => {
    const good = await post(listed, initialize, null, { origin: 'https://app.example' });
    assert.equal(good.status, 200, good.body);
    const bad = await post(listed, initialize, null, { origin: 'http://evil.example' });
    assert.equal(bad.status, 403, bad.body);
  });

  it('a non-loopback Host header is refused with 403 (DNS rebinding)', async () => {
    const response = await post(bookmcp, initialize, null, { host: `evil.example:${bookmcp.port}` });
    assert.equal(response.status, 403, response.body);
    const ok = await post(bookmcp, initialize, null, { host: `localhost:${bookmcp.port}` });
    assert.equal(ok.status, 200, ok.body);
  });

  it('a WebSocket upgrade with a foreign Origin is refused', async () => {
    const ws = new RawWs(bookmcp, { origin: 'http://evil.example' });
    await assert.rejects(ws.open(), (error) => error.status === 403);
  });

  it('a WebSocket upgrade with a loopback Origin is accepted and answers subprotocol mcp', async () => {
    const ws = new RawWs(bookmcp, { origin: `http://127.0.0.1:${bookmcp.port}` });
    const init = await ws.initialize();
    assert.equal(ws.ws.protocol, 'mcp');
    assert.equal(init.result.serverInfo.name, 'bookmcp');
    ws.close();
  });

  it('a WebSocket upgrade offering only other subprotocols is refused', async () => {
    const ws = new RawWs(bookmcp, { protocols: ['graphql-ws'] });
    await assert.rejects(ws.open(), (error) => error.status === 400);
  });
});

// =============================================================================================
// Authentication
// =============================================================================================

describe('API key authentication (--auth-keys)', SUITE, () => {
  const ALICE_KEY = 'alice-key-0123456789abcdef';
  const BOB_KEY = 'bob-key-fedcba9876543210';
  const CAROL_KEY = 'carol-key-0123456789#with-a-hash';  // '#' inside a key is not a comment
  let server;
  let dir;
  before(async () => {
    dir = temporaryDirectory('bookmcp-keys-');
    const keys = writeKeysFile(dir.dir, [
      '# e2e keys',
      `alice ${ALICE_KEY}`,
      `bob sha256:${createHash('sha256').update(BOB_KEY).digest('hex')}`,
      `carol ${CAROL_KEY}   # a trailing comment`,
    ]);
    server = await startBookmcp({ args: ['--auth-keys', keys] });
  });
  after(async () => {
    await server?.stop();
    dir?.cleanup();
  });

  const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'a', version: '1' } } };

  it('no credentials: 401 with WWW-Authenticate: Bearer', async () => {
    const response = await post(server, initialize, null);
    assert.equal(response.status, 401, response.body);
    assert.match(response.headers['www-authenticate'] ?? '', /^Bearer\b/);
    assert.equal(response.json?.error?.code, -32001);
  });

  it('a wrong key, or a non-Bearer scheme: 401', async () => {
    for (const auth of ['Bearer wrong-key-0123456789abcdef', `Basic ${Buffer.from(`alice:${ALICE_KEY}`).toString('base64')}`, `Bearer ${ALICE_KEY}x`,
                        `Bearer ${CAROL_KEY.split('#')[0]}`]) {
      const response = await post(server, initialize, { auth });
      assert.equal(response.status, 401, `${auth}: ${response.body}`);
      assert.match(response.headers['www-authenticate'] ?? '', /^Bearer\b/);
    }
  });

  it('the right key works (plain and sha256: entries), and the identity is the subject', async () => {
    const alice = await initializeRaw(server, { auth: `Bearer ${ALICE_KEY}` });
    const bob = await initializeRaw(server, { auth: `Bearer ${BOB_KEY}` });
    const carol = await initializeRaw(server, { auth: `Bearer ${CAROL_KEY}` });
    assert.equal((await post(server, ping(1), alice)).status, 200);
    assert.equal((await post(server, ping(1), bob)).status, 200);
    assert.equal((await post(server, ping(1), carol)).status, 200);
    // bookmcp logs each request with its identity at debug level.
    await waitForStderr(server, /identity=alice\b/);
    await waitForStderr(server, /identity=bob\b/);
  });

  it("a session of subject A used with B's key answers 404", async () => {
    const alice = await initializeRaw(server, { auth: `Bearer ${ALICE_KEY}` });
    const stolen = await post(server, ping(1), { ...alice, auth: `Bearer ${BOB_KEY}` });
    assert.equal(stolen.status, 404, stolen.body);
    const noKey = await post(server, ping(1), { ...alice, auth: undefined });
    assert.equal(noKey.status, 401);
    const own = await post(server, ping(2), alice);
    assert.equal(own.status, 200);
    const deleteByBob = await request(server, {
      method: 'DELETE',
      path: '/mcp',
      headers: { 'mcp-session-id': alice.id, authorization: `Bearer ${BOB_KEY}` },
    });
    assert.equal(deleteByBob.status, 404, 'B cannot end A\'s session');
    assert.equal((await post(server, ping(3), alice)).status, 200);
  });

  it('the SDK client works with the key as a header', async () => {
    const session = await connectHttp(server, { headers: { Authorization: `Bearer ${ALICE_KEY}` } });
    try {
      assert.deepEqual(await session.client.ping(), {});
      assert.equal(session.client.getServerVersion().name, 'bookmcp');
    } finally {
      await session.close();
    }
  });

  it('WebSocket: the upgrade needs the key (401 without, works with)', async () => {
    const anonymous = new RawWs(server);
    await assert.rejects(anonymous.open(), (error) => error.status === 401 && /^Bearer\b/.test(error.headers['www-authenticate'] ?? ''));
    const wrong = new RawWs(server, { headers: { authorization: 'Bearer nope-nope-nope-nope-nope' } });
    await assert.rejects(wrong.open(), (error) => error.status === 401);
    const ws = new RawWs(server, { headers: { authorization: `Bearer ${BOB_KEY}` } });
    const init = await ws.initialize();
    assert.equal(init.result.serverInfo.name, 'bookmcp');
    assert.deepEqual((await ws.request(1, 'ping')).result, {});
    ws.close();
  });

  it('the ops routes need no credentials', async () => {
    assert.equal((await request(server, { path: '/healthz' })).status, 200);
    assert.equal((await request(server, { path: '/readyz' })).status, 200);
  });

  it('the startup refuses a too-short key (exit 2, message)', async () => {
    const bad = temporaryDirectory('bookmcp-keys-');
    try {
      const keys = writeKeysFile(bad.dir, ['carol short']);
      const { exit, stderr } = await startBookmcp({ args: ['--auth-keys', keys], expectExit: true });
      assert.equal(exit.code, 2);
      assert.match(stderr, /at least 16 characters/);
    } finally {
      bad.cleanup();
    }
  });
});

describe('HS256 JWT authentication (--jwt-secret-file, --jwt-issuer, --jwt-audience)', SUITE, () => {
  const SECRET = 'e2e-jwt-secret-0123456789-abcdef';
  const ISSUER = 'https://issuer.example';
  const AUDIENCE = 'bookmcp-e2e';
  let server;
  let dir;
  before(async () => {
    dir = temporaryDirectory('bookmcp-jwt-');
    const secretFile = writeKeysFile(dir.dir, [SECRET]);
    server = await startBookmcp({ args: ['--jwt-secret-file', secretFile, '--jwt-issuer', ISSUER, '--jwt-audience', AUDIENCE] });
  });
  after(async () => {
    await server?.stop();
    dir?.cleanup();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (extra = {}) => ({ sub: 'jwt-alice', iss: ISSUER, aud: AUDIENCE, iat: now(), exp: now() + 600, ...extra });
  const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'j', version: '1' } } };
  const tryToken = (token) => post(server, initialize, { auth: `Bearer ${token}` });

  it('a valid token works and its sub is the identity', async () => {
    const response = await tryToken(makeJwt(claims(), SECRET));
    assert.equal(response.status, 200, response.body);
    await waitForStderr(server, /identity=jwt-alice\b/);
  });

  for (const [what, token] of [
    ['an expired token', () => makeJwt(claims({ iat: now() - 7200, exp: now() - 3600 }), SECRET)],
    ['a wrong signature', () => makeJwt(claims(), 'another-secret-0123456789-abcdef')],
    ['a wrong audience', () => makeJwt(claims({ aud: 'someone-else' }), SECRET)],
    ['a wrong issuer', () => makeJwt(claims({ iss: 'https://evil.example' }), SECRET)],
    ['no sub', () => makeJwt(claims({ sub: undefined }), SECRET)],
    ['a token not valid yet (nbf in an hour)', () => makeJwt(claims({ nbf: now() + 3600 }), SECRET)],
    ['alg none', () => makeJwt(claims(), SECRET, { alg: 'none', typ: 'JWT' }).replace(/[^.]*$/, '')],
    ['a "crit" header naming an extension (RFC 7515 4.1.11)', () => makeJwt(claims(), SECRET, { alg: 'HS256', typ: 'JWT', crit: ['exp-ext'], 'exp-ext': 1 })],
    ['a tampered payload', () => {
      const [header, , signature] = makeJwt(claims(), SECRET).split('.');
      return [header, Buffer.from(JSON.stringify(claims({ sub: 'root' }))).toString('base64url'), signature].join('.');
    }],
  ]) {
    it(`${what}: 401`, async () => {
      const response = await tryToken(token());
      assert.equal(response.status, 401, response.body);
    });
  }

  it('an aud array that contains the audience is accepted (RFC 7519 4.1.3)', async () => {
    const response = await tryToken(makeJwt(claims({ aud: ['another-api', AUDIENCE] }), SECRET));
    assert.equal(response.status, 200, response.body);
  });

  it('401 carries WWW-Authenticate: Bearer with resource_metadata', async () => {
    const response = await post(server, initialize, null);
    assert.equal(response.status, 401);
    const challenge = response.headers['www-authenticate'] ?? '';
    assert.match(challenge, /^Bearer\b/);
    assert.ok(
      challenge.includes(`resource_metadata="http://127.0.0.1:${server.port}/.well-known/oauth-protected-resource"`),
      challenge,
    );
  });

  it('/.well-known/oauth-protected-resource serves RFC 9728 metadata naming the issuer', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const response = await request(server, { path });
      assert.equal(response.status, 200, path);
      assert.match(response.headers['content-type'], /^application\/json/);
      assert.equal(response.json.resource, `http://127.0.0.1:${server.port}/mcp`);
      assert.deepEqual(response.json.authorization_servers, [ISSUER]);
      assert.ok(response.json.bearer_methods_supported.includes('header'));
    }
  });

  it('WebSocket: a valid token opens the connection, an expired one is refused', async () => {
    const good = new RawWs(server, { headers: { authorization: `Bearer ${makeJwt(claims(), SECRET)}` } });
    assert.equal((await good.initialize()).result.serverInfo.name, 'bookmcp');
    good.close();
    const expired = new RawWs(server, { headers: { authorization: `Bearer ${makeJwt(claims({ exp: now() - 3600 }), SECRET)}` } });
    await assert.rejects(expired.open(), (error) => error.status === 401);
  });
});

describe('JWTs verified with the issuer\'s public key (--jwt-public-key-file)', SUITE, () => {
  const ISSUER = 'https://issuer.example';
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (extra = {}) => ({ sub: 'pk-alice', iss: ISSUER, iat: now(), exp: now() + 600, ...extra });
  const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'pk', version: '1' } } };
  let dir;
  before(() => {
    dir = temporaryDirectory('bookmcp-jwt-pk-');
  });
  after(() => dir?.cleanup());
  const writeKey = (name, text) => {
    const file = path.join(dir.dir, name);
    writeFileSync(file, text);
    return file;
  };
  const pem = (pair) => pair.publicKey.export({ type: 'spki', format: 'pem' });

  it('RS256: a token signed by the issuer\'s key is accepted; another key, alg confusion and alg none are refused', async () => {
    const publicPem = pem(rsa);
    const server = await startBookmcp({ args: ['--jwt-public-key-file', writeKey('rsa.pem', publicPem), '--jwt-issuer', ISSUER] });
    try {
      assert.match(server.stderr, /verified with the RS256 public key/);
      const tryToken = (token) => post(server, initialize, { auth: `Bearer ${token}` });
      const good = await tryToken(makeSignedJwt(claims(), rsa.privateKey, 'RS256'));
      assert.equal(good.status, 200, good.body);
      await waitForStderr(server, /identity=pk-alice\b/);
      for (const [what, token] of [
        ['signed by another key', makeSignedJwt(claims(), otherRsa.privateKey, 'RS256')],
        ['expired', makeSignedJwt(claims({ iat: now() - 7200, exp: now() - 3600 }), rsa.privateKey, 'RS256')],
        ['wrong issuer', makeSignedJwt(claims({ iss: 'https://evil.example' }), rsa.privateKey, 'RS256')],
        // The classic confusion: HS256 with the public key's PEM as the shared secret.
        ['HS256 keyed with the public key', makeJwt(claims(), publicPem)],
        ['alg none', makeJwt(claims(), 'x', { alg: 'none', typ: 'JWT' }).replace(/[^.]*$/, '')],
      ]) {
        assert.equal((await tryToken(token)).status, 401, what);
      }
    } finally {
      await server.stop();
    }
  });

  it('ES256 with a P-256 key; an RS256 token is refused by it', async () => {
    const server = await startBookmcp({ args: ['--jwt-public-key-file', writeKey('ec.pem', pem(ec))] });
    try {
      assert.match(server.stderr, /verified with the ES256 public key/);
      const tryToken = (token) => post(server, initialize, { auth: `Bearer ${token}` });
      assert.equal((await tryToken(makeSignedJwt(claims(), ec.privateKey, 'ES256'))).status, 200);
      assert.equal((await tryToken(makeSignedJwt(claims(), rsa.privateKey, 'RS256'))).status, 401);
    } finally {
      await server.stop();
    }
  });

  it('a file that is not a usable public key stops the start with a clear message (exit 2)', async () => {
    for (const [name, text, message] of [
      ['private.pem', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), /not a PEM public key/],
      ['short.pem', pem(generateKeyPairSync('rsa', { modulusLength: 1024 })), /at least 2048 bits/],
      ['ed25519.pem', pem(generateKeyPairSync('ed25519')), /must be RSA \(RS256\) or EC/],
    ]) {
      const { exit, stderr } = await startBookmcp({ args: ['--jwt-public-key-file', writeKey(name, text)], expectExit: true });
      assert.equal(exit.code, 2, name);
      assert.match(stderr, message, name);
    }
    const { exit, stderr } = await startBookmcp({ args: ['--jwt-public-key-file', path.join(dir.dir, 'missing.pem')], expectExit: true });
    assert.equal(exit.code, 2);
    assert.match(stderr, /cannot read/);
  });
});

describe('listening on a non-loopback address', SUITE, () => {
  it('without authentication refuses to start (exit 2, message)', async () => {
    const { exit, stderr } = await startBookmcp({ host: '0.0.0.0', expectExit: true });
    assert.equal(exit.code, 2);
    assert.match(stderr, /refusing to listen on 0\.0\.0\.0 without authentication/);
  });

  it('starts with --insecure-no-auth', async () => {
    const server = await startBookmcp({ host: '0.0.0.0', args: ['--insecure-no-auth'] });
    try {
      const session = await initializeRaw(server);
      assert.equal((await post(server, ping(1), session)).status, 200);
    } finally {
      const exit = await server.stop();
      assert.equal(exit.code, 0);
    }
  });
});

// =============================================================================================
// Limits
// =============================================================================================

describe('rate limit (--rate-limit 5 --rate-burst 5)', SUITE, () => {
  let server;
  before(async () => {
    server = await startBookmcp({ args: ['--rate-limit', '5', '--rate-burst', '5'] });
  });
  after(async () => {
    await server?.stop();
  });

  it('HTTP: 429 with Retry-After once the burst is spent; allowed again later', async () => {
    const session = await initializeRaw(server); // 2 tokens
    let limited;
    // Enough requests that only a client slower than the refill (5 a second) could miss it.
    for (let i = 0; i < 100 && !limited; ++i) {
      const response = await post(server, ping(i), session);
      if (response.status === 429) limited = response;
      else assert.equal(response.status, 200);
    }
    assert.ok(limited, 'a 429 within 100 quick requests');
    assert.match(limited.headers['retry-after'] ?? '', /^[1-9]\d*$/);
    assert.equal(limited.json?.error?.code, -32000);
    assert.match(limited.json.error.message, /rate limit/i);
    await sleep(Number(limited.headers['retry-after']) * 1000 + 100);
    assert.equal((await post(server, ping(99), session)).status, 200);
    const metrics = await readMetrics(server);
    assert.ok(metrics.value('bookmcp_rejected_requests_total', { reason: 'rate_limited' }) >= 1);
  });

  it('WebSocket: a JSON-RPC error naming the limit', async () => {
    await sleep(1500); // refill the bucket of the anonymous identity
    const ws = new RawWs(server);
    await ws.initialize(); // upgrade + initialize + initialized: 3 tokens
    const answers = [];
    // More than a client slower than the refill (5 a second) could send unlimited.
    for (let i = 1; i <= 30; ++i) ws.send(ping(i));
    for (let i = 1; i <= 30; ++i) answers.push(await ws.response(i));
    const limited = answers.filter((m) => m.error);
    assert.ok(limited.length >= 1, JSON.stringify(answers));
    assert.equal(limited[0].error.code, -32000);
    assert.match(limited[0].error.message, /rate limit/i);
    assert.match(limited[0].error.message, /5 requests per second/);
    assert.ok(limited[0].error.data?.retryAfterMs > 0);
    ws.close();
  });
});

describe('message size limit (--max-message-bytes 64KiB)', SUITE, () => {
  const LIMIT = 64 * 1024;
  let server;
  before(async () => {
    server = await startBookmcp({ args: ['--max-message-bytes', '64KiB'] });
  });
  after(async () => {
    await server?.stop();
  });

  const padded = (id, size) => {
    const message = { jsonrpc: '2.0', id, method: 'ping', params: { _meta: { pad: '' } } };
    message.params._meta.pad = 'x'.repeat(size - JSON.stringify(message).length);
    return JSON.stringify(message);
  };

  it('HTTP: a message under the limit passes; over it answers 413', async () => {
    const session = await initializeRaw(server);
    const small = await post(server, padded(1, LIMIT - 1024), session);
    assert.equal(small.status, 200, small.body.slice(0, 200));
    const big = await post(server, padded(2, LIMIT + 1024), session);
    assert.equal(big.status, 413, big.body.slice(0, 200));
    assert.ok(big.json?.error, 'a JSON-RPC error body');
  });

  it('HTTP: a 2 MiB body is answered 413 (not a reset connection)', async () => {
    const session = await initializeRaw(server);
    const big = await post(server, padded(3, 2 * 1024 * 1024), session);
    assert.equal(big.status, 413);
  });

  it('WebSocket: an oversized message closes the connection with 1009', async () => {
    const ws = new RawWs(server);
    await ws.initialize();
    ws.send(padded(1, LIMIT - 1024));
    assert.deepEqual((await ws.response(1)).result, {});
    ws.send(padded(2, LIMIT + 1024));
    const closed = await within(HANG_GUARD_MS, ws.closed, 'the close');
    assert.equal(closed.code, 1009, JSON.stringify(closed));
  });

  it('WebSocket: a binary frame closes the connection with a clear reason', async () => {
    const ws = new RawWs(server);
    await ws.initialize();
    ws.ws.send(Buffer.from(JSON.stringify(ping(1))), { binary: true });
    const closed = await within(HANG_GUARD_MS, ws.closed, 'the close');
    assert.equal(closed.code, 1003, JSON.stringify(closed));
    assert.match(closed.reason, /binary/i);
  });
});

// =============================================================================================
// Graceful shutdown
// =============================================================================================

describe('graceful shutdown', SUITE, () => {
  // The fixture program's grace period is fixed at 2 s (it has no --shutdown-grace flag).
  async function startWait(server, ms) {
    const ws = new RawWs(server);
    await ws.initialize();
    ws.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'wait', arguments: { ms }, _meta: { progressToken: 'g' } } });
    await ws.waitFor((m) => m.method === 'notifications/progress', 'a progress notification');
    return ws;
  }

  it('SIGTERM during a short call: the call completes, WebSocket peers get 1001, exit 0', async () => {
    const server = await startFixtures();
    try {
      const ws = await startWait(server, 600);
      const idle = new RawWs(server);
      await idle.initialize();
      const http = await initializeRaw(server);
      // Both calls are in flight (their first progress is in) before the signal.
      const httpCall = await openStream(server, {
        method: 'POST',
        headers: { ...POST_HEADERS, 'mcp-session-id': http.id, 'mcp-protocol-version': http.version },
        body: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'wait', arguments: { ms: 600 }, _meta: { progressToken: 'h' } } },
      });
      await httpCall.next((e) => e.json?.method === 'notifications/progress', HANG_GUARD_MS, 'a progress event of the HTTP call');
      server.process.signal('SIGTERM');
      const response = await ws.response(1, HANG_GUARD_MS);
      assert.deepEqual(response.result?.structuredContent, { waited_ms: 600 }, JSON.stringify(response));
      assert.equal(httpCall.status, 200);
      const httpAnswer = await httpCall.next((e) => e.json?.id === 2, HANG_GUARD_MS, 'the answer to the HTTP call');
      assert.deepEqual(httpAnswer.json.result?.structuredContent, { waited_ms: 600 }, httpCall.raw);
      for (const peer of [ws, idle]) {
        const closed = await within(HANG_GUARD_MS, peer.closed, 'the close frame');
        assert.equal(closed.code, 1001, JSON.stringify(closed));
      }
      const exit = await within(HANG_GUARD_MS, server.process.exited, 'the exit');
      assert.equal(exit.code, 0, server.process.describe());
    } finally {
      await server.stop();
    }
  });

  // The call would run 10 minutes: an answer and an exit within the hang guard are the grace
  // period's doing, however slow the machine.
  it('SIGTERM during a long call: after the grace period the call gets an error, exit 0 promptly', async () => {
    const server = await startFixtures();
    try {
      const ws = await startWait(server, 600_000);
      const signalled = Date.now();
      server.process.signal('SIGTERM');
      const response = await ws.response(1, HANG_GUARD_MS);
      assert.ok(response.error, `an error, not a result: ${JSON.stringify(response)}`);
      const answeredAfter = Date.now() - signalled;
      assert.ok(answeredAfter >= 1500, `answered ${answeredAfter} ms after SIGTERM (grace 2 s)`);
      const closed = await within(HANG_GUARD_MS, ws.closed, 'the close frame');
      assert.equal(closed.code, 1001);
      const exit = await within(HANG_GUARD_MS, server.process.exited, 'the exit');
      assert.equal(exit.code, 0, server.process.describe());
    } finally {
      await server.stop();
    }
  });

  // With nothing in flight the exit does not wait for the grace period: with 60 s of grace, an
  // exit within the hang guard shows it (no bound on the machine's speed).
  for (const grace of ['60s', '100ms']) {
    it(`bookmcp --shutdown-grace ${grace}: idle peers are closed (WebSocket 1001, GET stream ended), exit 0 promptly`, async () => {
      const server = await startBookmcp({ args: ['--shutdown-grace', grace] });
      try {
        const ws = new RawWs(server);
        await ws.initialize();
        const session = await initializeRaw(server);
        const stream = await openStream(server, {
          headers: { accept: 'text/event-stream', 'mcp-session-id': session.id, 'mcp-protocol-version': session.version },
        });
        assert.equal(stream.status, 200);
        server.process.signal('SIGTERM');
        const closed = await within(HANG_GUARD_MS, ws.closed, 'the close frame');
        assert.equal(closed.code, 1001, JSON.stringify(closed));
        await within(HANG_GUARD_MS, stream.ended, 'the end of the GET stream');
        const exit = await within(HANG_GUARD_MS, server.process.exited, 'the exit');
        assert.equal(exit.code, 0, server.process.describe());
      } finally {
        await server.stop();
      }
    });
  }
});
