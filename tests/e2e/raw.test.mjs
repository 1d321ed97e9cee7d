// The stdio transport spoken by hand: raw lines on the fixture program's stdin, every stdout line
// checked. Malformed JSON, oversized messages, ids, notifications, version negotiation, EOF.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RawPeer, TEST_TIMEOUT_MS, fixturesBinary, jsonRpcViolations, within } from './helpers.mjs';

const FIXTURES = fixturesBinary(); // fails the file at once, with a clear message, when unset
const TEN_MIB = 10 * 1024 * 1024;

// A ping request whose serialized line (without the newline) is exactly `bytes` long.
function paddedPing(id, bytes) {
  const head = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"ping","params":{"_meta":{"pad":"`;
  const tail = '"}}}';
  const line = head + 'x'.repeat(bytes - head.length - tail.length) + tail;
  assert.equal(Buffer.byteLength(line), bytes);
  return line;
}

// Starts the fixtures, initializes, runs `body`, then closes stdin and checks that the process
// exits 0 and that stdout held nothing but JSON-RPC messages.
async function withPeer(args, body, { batches = false } = {}) {
  const peer = new RawPeer(FIXTURES, args);
  try {
    await body(peer);
    peer.closeInput();
    const { code } = await within(10_000, peer.exited, 'the fixtures to exit after EOF');
    assert.equal(code, 0, peer.stderr);
    assert.deepEqual(jsonRpcViolations(peer.lines, { batches }), [], 'stdout holds only JSON-RPC lines');
  } finally {
    peer.kill();
  }
}

describe('raw stdio', { timeout: 10 * TEST_TIMEOUT_MS }, () => {
  it('malformed JSON gives -32700 with id null, and the server keeps serving', async () => {
    await withPeer([], async (peer) => {
      await peer.initialize();
      await peer.write('{"jsonrpc":"2.0","id":1,"method":"ping"\n');
      const parseError = await peer.waitFor((m) => m.error?.code === -32700, 'a parse error');
      assert.ok('id' in parseError, 'the error response has an id member');
      assert.equal(parseError.id, null);
      await peer.write('this is not json at all\n');
      await peer.waitFor((m) => m.error?.code === -32700 && m !== parseError, 'a second parse error');
      assert.deepEqual((await peer.request(2, 'ping')).result, {});
    });
  });

  it('a message of exactly 10 MiB is accepted; one byte more is refused clearly and the next request is answered', async () => {
    await withPeer([], async (peer) => {
      await peer.initialize();
      await peer.write(paddedPing(3, TEN_MIB) + '\n');
      assert.deepEqual((await peer.response(3, TEST_TIMEOUT_MS)).result, {});

      await peer.write(paddedPing(4, TEN_MIB + 1) + '\n');
      const refusal = await peer.waitFor((m) => 'error' in m && m.id !== 3 && m.error.code !== -32700, 'the oversize refusal', TEST_TIMEOUT_MS);
      assert.equal(refusal.error.code, -32600, JSON.stringify(refusal));
      assert.equal(refusal.id, null);
      assert.match(refusal.error.message, /exceeds/);
      assert.match(refusal.error.message, /10 MiB/);
      assert.ok(!peer.messages.some((m) => m.id === 4 && 'result' in m), 'the oversized request was not executed');

      assert.deepEqual((await peer.request(5, 'ping')).result, {});
      const echoed = await peer.request(6, 'tools/call', { name: 'echo', arguments: { text: 'after the big one' } });
      assert.equal(echoed.result.content[0].text, 'after the big one');
    });
  });

  it('ids: 0, negative, large and string ids are echoed exactly', async () => {
    await withPeer([], async (peer) => {
      await peer.initialize('2025-11-25', 0);
      for (const id of [1, -7, 9007199254740991, 'abc', '', 'ü-é "quoted"']) {
        const response = await peer.request(id, 'ping');
        assert.deepEqual(response, { jsonrpc: '2.0', id, result: {} });
      }
    });
  });

  it('notifications get no reply; unknown methods are -32601; requests before initialize are refused', async () => {
    const peer = new RawPeer(FIXTURES);
    try {
      await peer.send({ jsonrpc: '2.0', id: 'early', method: 'tools/list' });
      const early = await peer.response('early');
      assert.ok(early.error, `tools/list before initialize: ${JSON.stringify(early)}`);
      await peer.initialize('2025-11-25', 1);
      await peer.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
      await peer.send({ jsonrpc: '2.0', method: 'notifications/no_such_thing', params: {} });
      await peer.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'x', progress: 1 } });
      const unknown = await peer.request(2, 'no/such/method', {});
      assert.equal(unknown.error.code, -32601);
      // Everything after the initialize response answers a request: nothing for notifications.
      const initIndex = peer.messages.findIndex((m) => m.id === 1);
      assert.deepEqual(
        peer.messages.slice(initIndex + 1).map((m) => m.id),
        [2],
      );
      peer.closeInput();
      assert.equal((await within(10_000, peer.exited, 'exit')).code, 0);
      assert.deepEqual(jsonRpcViolations(peer.lines), []);
    } finally {
      peer.kill();
    }
  });

  it('invalid messages get -32600/-32602/-32700 with the right id, and the server keeps serving', async () => {
    await withPeer([], async (peer) => {
      await peer.initialize();
      // Each line is answered by one error with id null: the id is missing or unreadable.
      const answered = new Set();
      for (const line of ['42', '"text"', 'null', '[]', '[{"jsonrpc":"2.0","id":9,"method":"ping"}]', '{"jsonrpc":"2.0","id":1.5,"method":"ping"}', '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}']) {
        await peer.write(line + '\n');
        const error = await peer.waitFor((m) => 'error' in m && !answered.has(m), `an error for ${line}`);
        answered.add(error);
        assert.equal(error.id, null, `${line} → ${JSON.stringify(error)}`);
        assert.equal(error.error.code, -32600, `${line} → ${JSON.stringify(error)}`);
      }
      assert.ok(!peer.messages.some((m) => m.id === 9), 'no batch is executed in 2025-11-25');

      await peer.send({ jsonrpc: '1.0', id: 10, method: 'ping' });
      assert.equal((await peer.response(10)).error.code, -32600);
      await peer.send({ jsonrpc: '2.0', id: 11, method: 'tools/list', params: [1] });
      assert.equal((await peer.response(11)).error.code, -32602);
      await peer.send({ jsonrpc: '2.0', id: 12 });
      assert.equal((await peer.response(12)).error.code, -32600);
      // Invalid UTF-8 is not JSON text.
      await peer.write(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":13,"method":"ping","params":{"_meta":{"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}}\n')]));
      await peer.waitFor((m) => m.error?.code === -32700, 'a parse error for invalid UTF-8');
      // A response to a request the server never made is ignored.
      await peer.send({ jsonrpc: '2.0', id: 99, result: {} });
      assert.deepEqual((await peer.request(14, 'ping')).result, {});
      assert.ok(!peer.messages.some((m) => m.id === 99));
    });
  });

  describe('protocol 2025-03-26 still takes batches', () => {
    // Writes one batch line and returns every batch (array) line the server sent for it, after a
    // later request's response has come back (the server answers the batch no later than that).
    async function answersTo(peer, batch, barrierId) {
      const before = peer.lines.length;
      await peer.write(JSON.stringify(batch) + '\n');
      await peer.send({ jsonrpc: '2.0', id: barrierId, method: 'tools/call', params: { name: 'wait', arguments: { ms: 200 } } });
      await peer.response(barrierId);
      return peer.lines
        .slice(before)
        .filter((line) => line.startsWith('['))
        .map((line) => JSON.parse(line));
    }

    it('a batch of one ping is answered by exactly one array', async () => {
      await withPeer(
        [],
        async (peer) => {
          await peer.initialize('2025-03-26');
          const answers = await answersTo(peer, [{ jsonrpc: '2.0', id: 5, method: 'ping' }], 6);
          assert.deepEqual(answers, [[{ jsonrpc: '2.0', id: 5, result: {} }]], `answers: ${JSON.stringify(answers)}`);
        },
        { batches: true },
      );
    });

    it('a mixed batch gets one array with a response per request; a notification-only batch gets nothing', async () => {
      await withPeer(
        [],
        async (peer) => {
          await peer.initialize('2025-03-26');
          const mixed = await answersTo(
            peer,
            [
              { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'wait', arguments: { ms: 100 } } },
              { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
              { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'batched' } } },
              { jsonrpc: '2.0', id: 3, method: 'no/such/method' },
            ],
            10,
          );
          assert.equal(mixed.length, 1, `one batch answer: ${JSON.stringify(mixed)}`);
          const responses = mixed[0];
          assert.deepEqual(responses.map((r) => r.id).sort(), [1, 2, 3]);
          assert.equal(responses.find((r) => r.id === 2).result.content[0].text, 'batched');
          assert.equal(responses.find((r) => r.id === 3).error.code, -32601);

          const quiet = await answersTo(peer, [{ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }], 11);
          assert.deepEqual(quiet, []);
        },
        { batches: true },
      );
    });
  });

  describe('version negotiation', () => {
    for (const [offered, expected] of [
      ['2025-11-25', '2025-11-25'],
      ['2025-06-18', '2025-06-18'],
      ['2025-03-26', '2025-03-26'],
      ['1999-01-01', '2025-11-25'],
    ]) {
      it(`offered ${offered} → ${expected}`, async () => {
        await withPeer([], async (peer) => {
          const { result } = await peer.initialize(offered);
          assert.equal(result.protocolVersion, expected);
          assert.equal(result.serverInfo.name, 'bookmcp-conformance-fixtures');
        });
      });
    }
  });

  it('a cancelled request gets no response and its progress stops', async () => {
    await withPeer([], async (peer) => {
      await peer.initialize();
      await peer.send({
        jsonrpc: '2.0',
        id: 10,
        method: 'tools/call',
        params: { name: 'wait', arguments: { ms: 10_000 }, _meta: { progressToken: 'w10' } },
      });
      await peer.waitFor((m) => m.method === 'notifications/progress' && m.params.progressToken === 'w10', 'progress of the wait');
      await peer.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 10, reason: 'test' } });
      const cancelledAt = peer.messages.length;
      // A 500 ms wait spans five ticks of the cancelled handler, had it kept running.
      const next = await peer.request(11, 'tools/call', { name: 'wait', arguments: { ms: 500 } });
      assert.deepEqual(next.result.structuredContent, { waited_ms: 500 });
      const later = peer.messages.slice(cancelledAt);
      const strayProgress = later.filter((m) => m.params?.progressToken === 'w10');
      assert.ok(strayProgress.length <= 1, `progress after the cancel: ${JSON.stringify(strayProgress)}`);
      assert.ok(!peer.messages.some((m) => m.id === 10), 'no response to the cancelled request');
    });
  });

  it('progress reports precede the response on the wire, the last one equal to the total', async () => {
    await withPeer([], async (peer) => {
      await peer.initialize();
      const progressOf = (token) =>
        peer.messages.filter((m) => m.method === 'notifications/progress' && m.params.progressToken === token);
      await peer.send({
        jsonrpc: '2.0',
        id: 20,
        method: 'tools/call',
        params: { name: 'test_tool_with_progress', arguments: {}, _meta: { progressToken: 'p20' } },
      });
      await peer.response(20);
      assert.deepEqual(
        progressOf('p20').map((m) => [m.params.progress, m.params.total]),
        [
          [0, 100],
          [50, 100],
          [100, 100],
        ],
      );
      await peer.send({
        jsonrpc: '2.0',
        id: 21,
        method: 'tools/call',
        params: { name: 'wait', arguments: { ms: 450 }, _meta: { progressToken: 21 } },
      });
      const response = await peer.response(21);
      assert.deepEqual(response.result.structuredContent, { waited_ms: 450 });
      const values = progressOf(21).map((m) => m.params.progress);
      assert.ok(values.length >= 3, JSON.stringify(values));
      assert.equal(values.at(-1), 450);
      assert.ok(values.every((v, i) => i === 0 || v > values[i - 1]), JSON.stringify(values));
      // Nothing for the token after the response.
      const responseIndex = peer.messages.indexOf(response);
      assert.ok(peer.messages.slice(responseIndex).every((m) => m.params?.progressToken !== 21));
      // No progress without a token.
      await peer.request(22, 'tools/call', { name: 'wait', arguments: { ms: 150 } });
      assert.ok(!peer.messages.some((m) => m.method === 'notifications/progress' && m.params.progressToken === undefined));
    });
  });

  it('cancelling a tool call cancels its pending server-to-client request (id 0 included)', async () => {
    const peer = new RawPeer(FIXTURES);
    try {
      await peer.send({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: { sampling: {} }, clientInfo: { name: 'raw', version: '1' } },
      });
      await peer.response(0);
      await peer.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await peer.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'test_sampling', arguments: { prompt: 'p' } } });
      const sampling = await peer.waitFor((m) => m.method === 'sampling/createMessage', 'the sampling request');
      assert.ok(Number.isInteger(sampling.id) || typeof sampling.id === 'string', JSON.stringify(sampling));
      await peer.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, reason: 'test' } });
      const cancelled = await peer.waitFor((m) => m.method === 'notifications/cancelled', 'notifications/cancelled from the server');
      assert.deepEqual(cancelled.params.requestId, sampling.id);
      // A late answer to the cancelled request is ignored; no response to the cancelled call.
      await peer.send({ jsonrpc: '2.0', id: sampling.id, result: { model: 'm', role: 'assistant', content: { type: 'text', text: 'late' } } });
      assert.deepEqual((await peer.request(2, 'ping')).result, {});
      assert.ok(!peer.messages.some((m) => m.id === 1 && !('method' in m)), 'no response to the cancelled call');
      peer.closeInput();
      assert.equal((await within(10_000, peer.exited, 'exit')).code, 0);
      assert.deepEqual(jsonRpcViolations(peer.lines), []);
    } finally {
      peer.kill();
    }
  });

  it('EOF while wait {ms: 1500} runs: the call is still answered, then exit 0', async () => {
    const peer = new RawPeer(FIXTURES);
    try {
      await peer.initialize();
      await peer.send({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'wait', arguments: { ms: 1500 }, _meta: { progressToken: 1 } },
      });
      await peer.waitFor((m) => m.method === 'notifications/progress', 'the wait to run');
      peer.closeInput();
      const exit = await within(10_000, peer.exited, 'exit after EOF');
      assert.equal(exit.code, 0, peer.stderr);
      const answer = peer.messages.find((m) => m.id === 1 && !('method' in m));
      assert.ok(answer?.result, `no answer to the call read before EOF: ${JSON.stringify(answer)}`);
      assert.deepEqual(jsonRpcViolations(peer.lines), []);
    } finally {
      peer.kill();
    }
  });

  it('stdout carries only JSON-RPC even with debug logging on', async () => {
    await withPeer(['--log-level', 'trace'], async (peer) => {
      await peer.initialize();
      await peer.request(1, 'logging/setLevel', { level: 'debug' });
      await peer.request(2, 'tools/list', {});
      await peer.request(3, 'tools/call', { name: 'test_tool_with_logging', arguments: {} });
      await peer.request(4, 'tools/call', { name: 'wait', arguments: { ms: 'x' } });
      await peer.write('garbage\n');
      await peer.request(5, 'resources/read', { uri: 'test://nope' });
      await peer.request(6, 'ping');
      assert.ok(peer.messages.some((m) => m.method === 'notifications/message'), 'log notifications were sent');
    });
  });

  it('CRLF line endings and a last line without newline are accepted', async () => {
    const peer = new RawPeer(FIXTURES);
    try {
      await peer.initialize();
      await peer.write('{"jsonrpc":"2.0","id":7,"method":"ping"}\r\n');
      assert.deepEqual((await peer.response(7)).result, {});
      await peer.write('{"jsonrpc":"2.0","id":8,"method":"ping"}');
      peer.closeInput();
      assert.deepEqual((await peer.response(8)).result, {});
      assert.equal((await within(10_000, peer.exited, 'exit')).code, 0);
    } finally {
      peer.kill();
    }
  });
});
