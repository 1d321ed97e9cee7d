// The product binary: its command line and the MCP handshake over stdio (it has no tools yet).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  RawPeer,
  TEST_TIMEOUT_MS,
  bookmcpBinary,
  connectStdio,
  jsonRpcViolations,
  run,
  serverEnvironment,
  temporaryDirectory,
  within,
} from './helpers.mjs';

const BOOKMCP = bookmcpBinary(); // fails the file at once, with a clear message, when unset

describe('bookmcp command line', { timeout: 5 * TEST_TIMEOUT_MS }, () => {
  let data;
  before(() => {
    data = temporaryDirectory();
  });
  after(() => data.cleanup());
  const env = () => serverEnvironment({ BOOKMCP_DATA_DIR: data.dir });

  it('--version prints the version and exits 0', async () => {
    const { code, stdout } = await run(BOOKMCP, ['--version'], { env: env() });
    assert.equal(code, 0);
    assert.match(stdout, /^bookmcp \d+\.\d+\.\d+/);
  });

  it('--help prints usage naming the settings and exits 0', async () => {
    const { code, stdout } = await run(BOOKMCP, ['--help'], { env: env() });
    assert.equal(code, 0);
    assert.match(stdout, /usage:/);
    for (const setting of ['--stdio', '--data-dir', '--docs', '--log-level', '--max-message-bytes']) {
      assert.ok(stdout.includes(setting), `--help mentions ${setting}`);
    }
  });

  it('--bogus exits 2 naming the setting', async () => {
    const { code, stdout, stderr } = await run(BOOKMCP, ['--bogus'], { env: env() });
    assert.equal(code, 2);
    assert.match(stderr, /bogus/);
    assert.equal(stdout, '', 'nothing on stdout');
  });

  it('a bad value exits 2 naming the setting', async () => {
    const { code, stderr } = await run(BOOKMCP, ['--stdio', '--log-level', 'loud'], { env: env() });
    assert.equal(code, 2);
    assert.match(stderr, /log-level/);
  });

  it('an unknown BOOKMCP_ variable exits 2 naming it', async () => {
    const { code, stdout, stderr } = await run(BOOKMCP, ['--stdio'], {
      env: serverEnvironment({ BOOKMCP_DATA_DIR: data.dir, BOOKMCP_NOPE: '1' }),
    });
    assert.equal(code, 2);
    assert.match(stderr, /BOOKMCP_NOPE/);
    assert.equal(stdout, '');
  });

  it('--log-format json writes one valid JSON object per stderr line, with request records', async () => {
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'quote " and \\ backslash', version: '1' } },
    });
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const { code, stderr } = await run(BOOKMCP, ['--stdio', '--log-format', 'json'], {
      env: env(),
      input: `${initialize}\n${ping}\n`,
    });
    assert.equal(code, 0);
    const records = stderr.trim().split('\n').map((line) => JSON.parse(line));
    assert.ok(records.some((r) => typeof r.message === 'string' && r.message.includes('quote " and')), stderr);
    const requests = records.filter((r) => r.event === 'request');
    assert.deepEqual(
      requests.map((r) => [r.method, r.outcome, r.request_id, r.transport]),
      [['initialize', 'ok', 0, 'stdio'], ['ping', 'ok', 1, 'stdio']],
    );
    for (const r of requests) {
      assert.equal(typeof r.session_id, 'string');
      assert.equal(typeof r.duration_us, 'number');
    }
  });

  it('--stdio exits 0 at once on empty input', async () => {
    const { code, stdout } = await run(BOOKMCP, ['--stdio'], { env: env(), input: '' });
    assert.equal(code, 0);
    assert.equal(stdout, '');
  });
});

describe('bookmcp --max-message-bytes', { timeout: 3 * TEST_TIMEOUT_MS }, () => {
  // A ping whose line is exactly `bytes` long.
  const ping = (id, bytes) => {
    const head = `{"jsonrpc":"2.0","id":${id},"method":"ping","params":{"_meta":{"pad":"`;
    const tail = '"}}}';
    return head + 'x'.repeat(bytes - head.length - tail.length) + tail;
  };

  for (const [how, args, env] of [
    ['flag', ['--stdio', '--max-message-bytes', '4KiB'], {}],
    ['environment', ['--stdio'], { BOOKMCP_MAX_MESSAGE_BYTES: '4096' }],
  ]) {
    it(`set by ${how}: 4096 bytes pass, 4097 are refused with -32600 naming the limit`, async () => {
      const data = temporaryDirectory();
      const peer = new RawPeer(BOOKMCP, args, { env: serverEnvironment({ BOOKMCP_DATA_DIR: data.dir, ...env }) });
      try {
        await peer.initialize();
        await peer.write(ping(1, 4096) + '\n');
        assert.deepEqual((await peer.response(1)).result, {});
        await peer.write(ping(2, 4097) + '\n');
        const refusal = await peer.waitFor((m) => m.error?.code === -32600, 'the refusal');
        assert.equal(refusal.id, null);
        assert.match(refusal.error.message, /4 KiB/);
        assert.deepEqual((await peer.request(3, 'ping')).result, {});
        assert.ok(!peer.messages.some((m) => m.id === 2));
        peer.closeInput();
        assert.equal((await within(10_000, peer.exited, 'exit after EOF')).code, 0, peer.stderr);
      } finally {
        peer.kill();
        data.cleanup();
      }
    });
  }

  it('a value below 1KiB exits 2 naming the setting', async () => {
    const data = temporaryDirectory();
    try {
      const { code, stderr } = await run(BOOKMCP, ['--stdio', '--max-message-bytes', '100'], {
        env: serverEnvironment({ BOOKMCP_DATA_DIR: data.dir }),
      });
      assert.equal(code, 2);
      assert.match(stderr, /max-message-bytes/);
    } finally {
      data.cleanup();
    }
  });
});

describe('bookmcp --stdio with the SDK client', { timeout: 3 * TEST_TIMEOUT_MS }, () => {
  let data;
  let server;
  before(async () => {
    data = temporaryDirectory();
    server = await connectStdio({
      command: BOOKMCP,
      args: ['--stdio'],
      env: serverEnvironment({ BOOKMCP_DATA_DIR: data.dir }),
    });
  });
  after(async () => {
    await server?.close();
    data.cleanup();
  });

  it('initialize: server info, negotiated version, capabilities, instructions', () => {
    const { client } = server;
    const info = client.getServerVersion();
    assert.equal(info.name, 'bookmcp');
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    assert.equal(server.negotiatedVersion, '2025-11-25');
    assert.equal(typeof client.getServerCapabilities(), 'object');
    assert.match(client.getInstructions() ?? '', /book/i);
  });

  it('ping', async () => {
    assert.deepEqual(await server.client.ping(), {});
  });

  it('tools/list answers (no tools yet: possibly empty)', async () => {
    assert.ok(server.client.getServerCapabilities().tools, 'tools capability');
    const { tools } = await server.client.listTools();
    assert.ok(Array.isArray(tools));
    assert.equal(new Set(tools.map((tool) => tool.name)).size, tools.length);
  });

  it('unknown tool is JSON-RPC error -32602', async () => {
    await assert.rejects(server.client.callTool({ name: 'no_such_tool', arguments: {} }), (error) => {
      assert.equal(error.code, -32602, error.message);
      return true;
    });
  });
});

describe('bookmcp raw stdio', { timeout: 3 * TEST_TIMEOUT_MS }, () => {
  it('initialize, ping, malformed line, EOF: only JSON-RPC on stdout, exit 0', async () => {
    const data = temporaryDirectory();
    const peer = new RawPeer(BOOKMCP, ['--stdio', '--log-level', 'debug'], {
      env: serverEnvironment({ BOOKMCP_DATA_DIR: data.dir }),
    });
    try {
      const { result } = await peer.initialize('2025-06-18');
      assert.equal(result.protocolVersion, '2025-06-18');
      assert.equal(result.serverInfo.name, 'bookmcp');
      assert.deepEqual((await peer.request(1, 'ping')).result, {});
      await peer.write('{oops\n');
      const parseError = await peer.waitFor((m) => m.error?.code === -32700, 'a parse error');
      assert.equal(parseError.id, null);
      assert.equal((await peer.request(2, 'no/such/method')).error.code, -32601);
      peer.closeInput();
      assert.equal((await within(10_000, peer.exited, 'exit after EOF')).code, 0, peer.stderr);
      assert.deepEqual(jsonRpcViolations(peer.lines), []);
    } finally {
      peer.kill();
      data.cleanup();
    }
  });

  // MCP's stdio shutdown ends with SIGTERM: the calls already sent are still answered (an add
  // must not commit unanswered), then the process exits 0. SIGTERM used to kill it at once.
  it('SIGTERM with calls just sent: each is answered, then exit 0', async () => {
    const data = temporaryDirectory();
    const peer = new RawPeer(BOOKMCP, ['--stdio', '--log-level', 'info'], {
      env: serverEnvironment({ BOOKMCP_DATA_DIR: data.dir }),
    });
    try {
      await peer.initialize();
      let text = '';
      for (let id = 1; id <= 30; ++id) {
        text += JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call',
          params: { name: 'todo_add', arguments: { title: `before the stop ${id}` } } }) + '\n';
      }
      await peer.write(text);
      await peer.response(1);  // they are being read and run
      peer.child.kill('SIGTERM');
      const exit = await within(15_000, peer.exited, 'exit after SIGTERM');
      assert.equal(exit.signal, null, `killed by ${exit.signal}: ${peer.stderr}`);
      assert.equal(exit.code, 0, peer.stderr);
      for (let id = 1; id <= 30; ++id) {
        const answer = peer.messages.find((m) => m.id === id && !('method' in m));
        assert.ok(answer?.result && !answer.result.isError, `call ${id}: ${JSON.stringify(answer)}`);
      }
      assert.match(peer.stderr, /asked to stop/);
      assert.deepEqual(jsonRpcViolations(peer.lines), []);
    } finally {
      peer.kill();
      data.cleanup();
    }
  });
});
