// One more real client: the MCP Inspector's non-interactive CLI against the fixtures.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';

import { TEST_TIMEOUT_MS, fixturesBinary, run, serverEnvironment } from './helpers.mjs';

const FIXTURES = fixturesBinary(); // fails the file at once, with a clear message, when unset

// The package's `mcp-inspector-cli` bin, resolved from this folder's node_modules (no npx
// download, no network).
const require = createRequire(import.meta.url);
const packageDir = path.dirname(require.resolve('@modelcontextprotocol/inspector-cli/package.json'));
const CLI = path.join(packageDir, require('@modelcontextprotocol/inspector-cli/package.json').bin['mcp-inspector-cli']);

// inspector-cli 1.0.3 finds its own package.json with fs.existsSync("../package.json"), i.e.
// relative to the working directory, but imports it relative to its module: run it from its
// build/ folder, where both agree (from elsewhere it fails with "Cannot find module
// .../node_modules/@modelcontextprotocol/package.json").
function inspector(args) {
  return run(process.execPath, [CLI, '--cli', FIXTURES, ...args], {
    env: serverEnvironment(),
    cwd: path.dirname(CLI),
    timeoutMs: TEST_TIMEOUT_MS,
  });
}

function parseOutput(stdout) {
  // The CLI prints the result as (pretty) JSON on stdout.
  const start = stdout.indexOf('{');
  assert.ok(start >= 0, `JSON on stdout: ${stdout}`);
  return JSON.parse(stdout.slice(start));
}

describe('inspector-cli', { timeout: 3 * TEST_TIMEOUT_MS }, () => {
  it('tools/call echo text=hello', async () => {
    const { code, stdout, stderr } = await inspector(['--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'text=hello']);
    assert.equal(code, 0, stderr);
    const result = parseOutput(stdout);
    assert.deepEqual(result.content, [{ type: 'text', text: 'hello' }]);
  });

  it('tools/list', async () => {
    const { code, stdout, stderr } = await inspector(['--method', 'tools/list']);
    assert.equal(code, 0, stderr);
    const names = parseOutput(stdout).tools.map((tool) => tool.name);
    assert.ok(names.includes('echo') && names.includes('wait') && names.includes('test_simple_text'), names.join(' '));
  });

  it('tools/call wait ms=30 (numeric argument, structured result)', async () => {
    const { code, stdout, stderr } = await inspector(['--method', 'tools/call', '--tool-name', 'wait', '--tool-arg', 'ms=30']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(parseOutput(stdout).structuredContent, { waited_ms: 30 });
  });
});
