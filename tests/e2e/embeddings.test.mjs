// Dense and hybrid retrieval through the product binary: `bookmcp index` and `bookmcp reindex
// --embeddings` against the embeddings test double (a program written from the published
// OpenAI API: no embedding model runs on these machines), a stdio server answering hybrid
// search to the official SDK client and degrading to words when the endpoint goes away, a
// kill -9 in the middle of embedding, and Qdrant refused without embeddings.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { connectBook, copySampleBook, generateChapters } from './book-helpers.mjs';
import { TEST_TIMEOUT_MS, bookmcpBinary, run, serverEnvironment, temporaryDirectory, textOf } from './helpers.mjs';

const BOOKMCP = bookmcpBinary();
const DOUBLE = process.env.BOOKMCP_EMBEDDINGS_DOUBLE_BIN;
if (!DOUBLE) throw new Error('BOOKMCP_EMBEDDINGS_DOUBLE_BIN is not set (ctest sets it)');
const QDRANT_DOUBLE = process.env.BOOKMCP_QDRANT_DOUBLE_BIN;
if (!QDRANT_DOUBLE) throw new Error('BOOKMCP_QDRANT_DOUBLE_BIN is not set (ctest sets it)');

// Starts a double program; resolves once it prints its URL. stop() resolves with its exit code.
function startDouble(program = DOUBLE, args = ['--dimensions', '32']) {
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`the embeddings double exited (${code})`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/listening on (\S+)/);
      if (match) {
        child.removeAllListeners('exit');
        resolve({
          url: match[1],
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) return done(child.exitCode);
              child.on('exit', (code) => done(code));
              child.kill('SIGTERM');
            }),
        });
      }
    });
  });
}

describe('bookmcp with embeddings (the embeddings double)', { timeout: 10 * TEST_TIMEOUT_MS }, () => {
  let temporary;
  let docs;
  let endpoint;
  let data;
  before(async () => {
    temporary = temporaryDirectory('bookmcp-e2e-embeddings-');
    docs = copySampleBook(temporary.dir);
    data = path.join(temporary.dir, 'data');
    endpoint = await startDouble();
  });
  after(async () => {
    await endpoint?.stop();
    temporary?.cleanup();
  });
  const env = (extra = {}) =>
    serverEnvironment({ EMBEDDINGS_URL: endpoint.url, EMBEDDINGS_MODEL: 'double-embed-1', ...extra });

  it('refuses QDRANT_URL without embeddings, naming what to set', async () => {
    const { code, stdout, stderr } = await run(BOOKMCP, ['--stdio', '--data-dir', data], {
      env: serverEnvironment({ QDRANT_URL: 'http://127.0.0.1:6333' }),
      input: '',
    });
    assert.equal(code, 2);
    assert.match(stderr, /QDRANT_URL/);
    assert.match(stderr, /EMBEDDINGS_URL/);
    assert.equal(stdout, '');
  });

  it('bookmcp index embeds every chunk and says so; a second run embeds nothing', async () => {
    const first = await run(BOOKMCP, ['index', docs, '--data-dir', data], { env: env() });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Embeddings: \d+ chunks embedded, 0 removed, 0 pending/);
    assert.match(first.stderr, /\[embedding \d+\/\d+ chunks\] \d+ requests, 0 retries/);
    const embedded = Number(first.stdout.match(/Embeddings: (\d+) chunks embedded/)[1]);
    assert.ok(embedded > 0);
    assert.match(first.stdout, new RegExp(`, ${embedded} vectors\\.`));
    const second = await run(BOOKMCP, ['index', docs, '--data-dir', data], { env: env() });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /Embeddings: 0 chunks embedded/);

    const again = await run(BOOKMCP, ['reindex', '--embeddings', '--data-dir', data], { env: env() });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`Embeddings: ${embedded} chunks embedded`));
  });

  it('the server answers hybrid search with citations, and degrades to words without the endpoint', async () => {
    const server = await connectBook({ dataDir: data, docs: [docs], env: env() });
    try {
      const call = async (name, args) => {
        const result = await server.client.callTool({ name, arguments: args });
        assert.ok(!result.isError, `${name} failed: ${textOf(result)}`);
        return result.structuredContent;
      };
      const found = await call('search_book', { query: 'how do I tune a PID controller' });
      assert.equal(found.mode, 'hybrid');
      assert.deepEqual(found.signals, { lexical: true, dense: true });
      assert.equal(found.degraded, false);
      assert.equal(found.hits[0].path, '02-motion/kinematics.md');
      assert.match(found.hits[0].url, /^\/docs\/motion\/kinematics#/);

      await endpoint.stop();
      const degraded = await call('search_book', { query: 'PID controller gains', mode: 'hybrid' });
      assert.equal(degraded.degraded, true);
      assert.equal(degraded.mode, 'lexical');
      assert.match(degraded.degraded_reason, /cannot reach/);
      assert.ok(degraded.hits.length > 0);
    } finally {
      await server.close();
      endpoint = await startDouble();
    }
  });

  it('a kill -9 while embedding leaves an index the next run completes', async () => {
    const book = path.join(temporary.dir, 'big');
    generateChapters(book, 300);
    const killedData = path.join(temporary.dir, 'killed');
    const args = ['index', book, '--data-dir', killedData, '--embeddings-batch-size', '1'];
    const child = spawn(BOOKMCP, args, { env: env({ BOOKMCP_EMBEDDINGS_CONCURRENCY: '1' }), stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise((resolve, reject) => {
      let err = '';
      child.on('exit', () => reject(new Error(`bookmcp index ended before embedding: ${err}`)));
      child.stderr.on('data', (chunk) => {
        err += chunk;
        if (err.includes('[embedding ')) {
          child.removeAllListeners('exit');
          child.on('exit', resolve);
          child.kill('SIGKILL');
        }
      });
    });
    const next = await run(BOOKMCP, ['index', book, '--data-dir', killedData], { env: env() });
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stdout, /Embeddings: \d+ chunks embedded, 0 removed, 0 pending/);
    const chunks = Number(next.stdout.match(/documents, (\d+) chunks, (\d+) vectors/)[1]);
    const vectors = Number(next.stdout.match(/documents, (\d+) chunks, (\d+) vectors/)[2]);
    assert.equal(vectors, chunks);
    const last = await run(BOOKMCP, ['index', book, '--data-dir', killedData], { env: env() });
    assert.match(last.stdout, /Embeddings: 0 chunks embedded/);
  });

  it('with QDRANT_URL the book goes to Qdrant (the Qdrant double) and search runs there', async () => {
    const qdrant = await startDouble(QDRANT_DOUBLE, ['--strict']);
    const qdrantData = path.join(temporary.dir, 'qdrant-data');
    const withQdrant = env({ QDRANT_URL: qdrant.url, QDRANT_COLLECTION: 'e2e_book' });
    try {
      const indexed = await run(BOOKMCP, ['index', docs, '--data-dir', qdrantData], { env: withQdrant });
      assert.equal(indexed.code, 0, indexed.stderr);
      assert.match(indexed.stdout, /Embeddings: \d+ chunks embedded, 0 removed, 0 pending/);

      const server = await connectBook({ dataDir: qdrantData, docs: [docs], env: withQdrant });
      try {
        const call = async (name, args = {}) => {
          const result = await server.client.callTool({ name, arguments: args });
          assert.ok(!result.isError, `${name} failed: ${textOf(result)}`);
          return result.structuredContent;
        };
        const status = await call('index_status');
        assert.equal(status.dense.store, 'qdrant');
        assert.equal(status.dense.vectors, status.chunks);
        for (const mode of ['hybrid', 'lexical', 'dense']) {
          const found = await call('search_book', { query: 'how do I tune a PID controller', mode });
          assert.equal(found.degraded, false, found.degraded_reason);
          assert.equal(found.mode, mode);
          // By meaning alone, with the double's 32-dimension vectors, the page is among the first.
          if (mode === 'dense') assert.ok(found.hits.some((hit) => hit.path === '02-motion/kinematics.md'));
          else assert.equal(found.hits[0].path, '02-motion/kinematics.md', mode);
        }
        assert.equal(await qdrant.stop(), 0, 'the strict Qdrant double saw no request its schema refuses');
        const degraded = await call('search_book', { query: 'PID controller gains' });
        assert.equal(degraded.degraded, true);
        assert.match(degraded.degraded_reason, /local BM25/);
        assert.equal(degraded.hits[0].path, '02-motion/kinematics.md');
      } finally {
        await server.close();
      }
    } finally {
      await qdrant.stop();
    }
  });
});
