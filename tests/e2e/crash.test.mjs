// Crash safety of indexing: `bookmcp index` killed with SIGKILL part-way, then run again: the
// second run completes, keeps what the first one committed, and a server over the same data
// directory answers consistently (every hit opens, the counts match).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';

import { connectBook, generateChapters } from './book-helpers.mjs';
import { TEST_TIMEOUT_MS, bookmcpBinary, run, serverEnvironment, temporaryDirectory, within } from './helpers.mjs';

const BOOKMCP = bookmcpBinary(); // fails the file at once, with a clear message, when unset
const CHAPTERS = 1500;
const KILL_AFTER_LINES = 100;

describe('bookmcp index survives kill -9', { timeout: 10 * TEST_TIMEOUT_MS }, () => {
  let temporary;
  let book;
  let dataDir;
  before(() => {
    temporary = temporaryDirectory('bookmcp-e2e-crash-');
    book = path.join(temporary.dir, 'book');
    dataDir = path.join(temporary.dir, 'data');
    generateChapters(book, CHAPTERS);
  });
  after(() => temporary?.cleanup());

  let linesBeforeKill = 0;
  it('prints one progress line per file when not on a terminal; is killed part-way', async () => {
    const child = spawn(BOOKMCP, ['index', book, '--data-dir', dataDir], {
      env: serverEnvironment(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const lines = createInterface({ input: child.stderr });
    const enough = new Promise((resolve) => {
      lines.on('line', (line) => {
        if (/^\[\d+\/\d+\] (added|updated|unchanged|failed|removed) /.test(line)) linesBeforeKill += 1;
        if (linesBeforeKill === KILL_AFTER_LINES) resolve();
      });
    });
    await within(TEST_TIMEOUT_MS, Promise.race([enough, exited]), `${KILL_AFTER_LINES} progress lines`);
    child.kill('SIGKILL');
    const { signal } = await exited;
    assert.equal(signal, 'SIGKILL', 'the indexer was still running when killed');
    assert.ok(linesBeforeKill >= KILL_AFTER_LINES);
  });

  it('the next run completes and keeps what the killed run committed', async () => {
    const { code, stdout, stderr } = await run(BOOKMCP, ['index', book, '--data-dir', dataDir], { timeoutMs: 5 * TEST_TIMEOUT_MS });
    assert.equal(code, 0, stderr.slice(-2000));
    const counts = /(\d+) added, (\d+) updated, (\d+) unchanged, (\d+) removed, (\d+) failed/.exec(stdout);
    assert.ok(counts, stdout);
    const [added, updated, unchanged, , failed] = counts.slice(1).map(Number);
    assert.equal(failed, 0);
    assert.equal(added + updated + unchanged, CHAPTERS);
    assert.ok(unchanged >= linesBeforeKill, `${unchanged} unchanged, ${linesBeforeKill} reported before the kill`);
    assert.match(stdout, new RegExp(`${CHAPTERS} documents`));
  });

  it('a server over the same data answers consistently', async () => {
    const server = await connectBook({ dataDir, docs: [book] });
    try {
      const status = (await server.client.callTool({ name: 'index_status', arguments: {} })).structuredContent;
      assert.equal(status.documents, CHAPTERS);
      assert.equal(status.failed_documents, 0);
      assert.equal(status.registry_generation, status.index_generation);
      const search = await server.client.callTool({ name: 'search_book', arguments: { query: 'servo gripper encoder', limit: 20 } });
      const { hits } = search.structuredContent;
      assert.equal(hits.length, 20);
      for (const hit of hits) {
        const { contents } = await server.client.readResource({ uri: hit.uri });
        assert.match(contents[0].text, /Servo number/);
      }
    } finally {
      await server.close();
    }
  });
});
