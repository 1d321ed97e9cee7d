// Drives bookmcp's Qdrant test double (tests/testing/qdrant_double.hpp, as the program
// bookmcp_qdrant_double) with the official Qdrant REST client, @qdrant/js-client-rest, whose
// types and calls are generated from the same OpenAPI description: an independent client that
// accepts the double's answers, and whose requests the double accepts without a single
// violation (the program runs with --strict, so any violation fails the last test).
//
// Run: BOOKMCP_QDRANT_DOUBLE_BIN=<build>/tests/testing/bookmcp_qdrant_double node --test crosscheck.mjs
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';

import { QdrantClient } from '@qdrant/js-client-rest';

const program = process.env.BOOKMCP_QDRANT_DOUBLE_BIN;

// Starts the double on a free port; resolves with its URL and a `stop()` that ends it (closing
// its standard input) and resolves with its exit code and standard error.
function startDouble(args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['--port', '0', '--strict', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise((done) => child.on('exit', (code) => done(code)));
    const timer = setTimeout(() => reject(new Error('the double did not start in 10 s')), 10_000);
    child.on('error', reject);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (!match) {
        reject(new Error(`unexpected first line: ${line}`));
        return;
      }
      resolve({
        url: match[1],
        async stop() {
          child.stdin.end();
          const code = await exited;
          return { code, stderr };
        },
      });
    });
  });
}

// An error the client threw for a non-200 answer: its status and Qdrant's error text.
async function failure(promise) {
  try {
    await promise;
  } catch (error) {
    return { status: error.status, message: error.data?.status?.error ?? error.message };
  }
  assert.fail('expected the call to fail');
}

function normalise(vector) {
  const norm = Math.hypot(...vector);
  return vector.map((x) => x / norm);
}

describe('@qdrant/js-client-rest against the Qdrant double', { skip: !program && 'BOOKMCP_QDRANT_DOUBLE_BIN is not set' }, () => {
  let server;
  let client;
  const warnings = [];
  const originalWarn = console.warn;

  before(async () => {
    server = await startDouble();
    console.warn = (...args) => warnings.push(args.join(' '));
    // checkCompatibility: the client reads GET / and warns when the versions do not match.
    client = new QdrantClient({ url: server.url, checkCompatibility: true });
  });

  after(async () => {
    console.warn = originalWarn;
  });

  test('the version check passes', async () => {
    const info = await client.versionInfo();
    assert.equal(info.title, 'qdrant - vector search engine');
    assert.equal(info.version, '1.19.0');
    assert.deepEqual(warnings, []);
  });

  test('createCollection with a dense and an IDF sparse vector, then collectionExists', async () => {
    assert.deepEqual(await client.collectionExists('book'), { exists: false });
    const created = await client.createCollection('book', {
      vectors: { dense: { size: 4, distance: 'Cosine', on_disk: true } },
      sparse_vectors: { bm25: { modifier: 'idf' } },
      on_disk_payload: true,
      metadata: { bookmcp: { schema: 1, embed: { model: 'double-embed-1', dims: 4 } } },
    });
    assert.equal(created, true);
    assert.deepEqual(await client.collectionExists('book'), { exists: true });
    const conflict = await failure(
      client.createCollection('book', { vectors: { dense: { size: 4, distance: 'Cosine' } } }),
    );
    assert.equal(conflict.status, 409);
    assert.equal(conflict.message, 'Wrong input: Collection `book` already exists!');
  });

  test('createPayloadIndex', async () => {
    const result = await client.createPayloadIndex('book', {
      field_name: 'doc_path',
      field_schema: 'keyword',
      wait: true,
    });
    assert.deepEqual(result, { operation_id: 0, status: 'completed' });
  });

  test('upsert with wait, and Qdrant\'s errors', async () => {
    const result = await client.upsert('book', {
      wait: true,
      points: [
        {
          id: '6f1d3c1e-2b0a-5c7e-9a77-0d2f4c1b9e10',
          vector: { dense: [1, 0, 0, 0], bm25: { indices: [17, 4021], values: [1.2, 0.9] } },
          payload: { doc_path: 'docs/ch01/intro.md', title: 'Intro', chunk_index: 0 },
        },
        {
          id: 2,
          vector: { dense: [0, 1, 0, 0], bm25: { indices: [17], values: [1.0] } },
          payload: { doc_path: 'docs/ch01/intro.md', title: 'Intro', chunk_index: 1 },
        },
        {
          id: 3,
          vector: { dense: [1, 1, 0, 0], bm25: { indices: [99120], values: [1.6] } },
          payload: { doc_path: 'docs/ch02/next.md', title: 'Next', chunk_index: 0 },
        },
      ],
    });
    assert.deepEqual(result, { operation_id: 1, status: 'completed' });

    const wrongDimension = await failure(
      client.upsert('book', { wait: true, points: [{ id: 9, vector: { dense: [1, 0, 0] } }] }),
    );
    assert.equal(wrongDimension.status, 400);
    assert.equal(
      wrongDimension.message,
      "Wrong input: Vector dimension error: expected dim: 4, got 3 for vector 'dense'",
    );
  });

  test('query: a dense and a sparse prefetch fused with RRF', async () => {
    const response = await client.query('book', {
      prefetch: [
        { query: [1, 0.1, 0, 0], using: 'dense', limit: 10 },
        { query: { indices: [17], values: [1] }, using: 'bm25', limit: 10 },
      ],
      query: { fusion: 'rrf' },
      limit: 3,
      with_payload: ['doc_path', 'chunk_index'],
    });
    const ids = response.points.map((point) => point.id);
    // dense: uuid (0.995), 3 (0.77), 2 (0.0995); sparse (index 17): uuid (1.2), 2 (1.0).
    assert.deepEqual(ids, ['6f1d3c1e-2b0a-5c7e-9a77-0d2f4c1b9e10', 2, 3]);
    assert.ok(Math.abs(response.points[0].score - 1.0) < 1e-6);
    assert.ok(Math.abs(response.points[1].score - (1 / 4 + 1 / 3)) < 1e-6);
    assert.ok(Math.abs(response.points[2].score - 1 / 3) < 1e-6);
    assert.deepEqual(response.points[0].payload, { doc_path: 'docs/ch01/intro.md', chunk_index: 0 });
    for (const point of response.points) assert.equal(typeof point.version, 'number');

    const dense = await client.query('book', {
      query: [2, 2, 0, 0],
      using: 'dense',
      with_vector: true,
      filter: { must: [{ key: 'doc_path', match: { value: 'docs/ch02/next.md' } }] },
    });
    assert.equal(dense.points.length, 1);
    assert.ok(Math.abs(dense.points[0].score - 1) < 1e-6);
    const stored = dense.points[0].vector.dense;
    normalise([1, 1, 0, 0]).forEach((x, i) => assert.ok(Math.abs(stored[i] - x) < 1e-6));
  });

  test('queryBatch', async () => {
    const results = await client.queryBatch('book', {
      searches: [
        { query: [0, 1, 0, 0], using: 'dense', limit: 1 },
        { query: { indices: [99120], values: [1] }, using: 'bm25' },
      ],
    });
    assert.deepEqual(results.map((result) => result.points.map((point) => point.id)), [[2], [3]]);
  });

  test('scroll and count', async () => {
    const page = await client.scroll('book', { limit: 2, with_payload: true });
    assert.deepEqual(page.points.map((point) => point.id), [2, 3]);
    assert.equal(page.next_page_offset, '6f1d3c1e-2b0a-5c7e-9a77-0d2f4c1b9e10');
    assert.equal(page.points[0].payload.chunk_index, 1);
    const rest = await client.scroll('book', { offset: page.next_page_offset });
    assert.equal(rest.points.length, 1);
    assert.equal(rest.next_page_offset ?? null, null);
    const filter = { must: [{ key: 'doc_path', match: { value: 'docs/ch01/intro.md' } }] };
    assert.deepEqual(await client.count('book', { filter, exact: true }), { count: 2 });
    assert.deepEqual(await client.count('book'), { count: 3 });
  });

  test('retrieve', async () => {
    const records = await client.retrieve('book', { ids: [3, 2], with_payload: ['title'] });
    assert.deepEqual(records, [
      { id: 3, payload: { title: 'Next' } },
      { id: 2, payload: { title: 'Intro' } },
    ]);
  });

  test('delete by filter', async () => {
    const result = await client.delete('book', {
      wait: true,
      filter: { must: [{ key: 'doc_path', match: { value: 'docs/ch01/intro.md' } }] },
    });
    assert.equal(result.status, 'completed');
    assert.deepEqual(await client.count('book'), { count: 1 });
  });

  test('getCollection reports the configuration, the metadata and the index', async () => {
    const info = await client.getCollection('book');
    assert.equal(info.status, 'green');
    assert.equal(info.points_count, 1);
    assert.deepEqual(info.config.params.vectors, { dense: { size: 4, distance: 'Cosine', on_disk: true } });
    assert.deepEqual(info.config.params.sparse_vectors, { bm25: { modifier: 'idf' } });
    assert.deepEqual(info.config.metadata, { bookmcp: { schema: 1, embed: { model: 'double-embed-1', dims: 4 } } });
    assert.equal(info.payload_schema.doc_path.data_type, 'keyword');
    assert.equal(info.payload_schema.doc_path.points, 1);
    assert.equal(await client.updateCollection('book', { metadata: { bookmcp: null, other: 1 } }), true);
    assert.deepEqual((await client.getCollection('book')).config.metadata, { other: 1 });
  });

  test('deleteCollection', async () => {
    assert.equal(await client.deleteCollection('book'), true);
    assert.deepEqual(await client.collectionExists('book'), { exists: false });
    assert.equal(await client.deleteCollection('book'), false);
    const missing = await failure(client.getCollection('book'));
    assert.equal(missing.status, 404);
    assert.equal(missing.message, 'Not found: Collection `book` doesn\'t exist!');
  });

  test('the client sent nothing the OpenAPI description refuses, and got nothing it refuses', async () => {
    const { code, stderr } = await server.stop();
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });
});

describe('@qdrant/js-client-rest with an api-key', { skip: !program && 'BOOKMCP_QDRANT_DOUBLE_BIN is not set' }, () => {
  test('the key is sent in the api-key header; without it the double answers 401', async () => {
    const server = await startDouble(['--api-key', 'my-secret']);
    try {
      const originalWarn = console.warn;
      console.warn = () => {}; // "Api key is used with unsecure connection."
      const client = new QdrantClient({ url: server.url, apiKey: 'my-secret', checkCompatibility: false });
      console.warn = originalWarn;
      assert.deepEqual(await client.getCollections(), { collections: [] });
      const anonymous = new QdrantClient({ url: server.url, checkCompatibility: false });
      const refused = await failure(anonymous.getCollections());
      assert.equal(refused.status, 401);
    } finally {
      const { code, stderr } = await server.stop();
      assert.equal(stderr, '');
      assert.equal(code, 0);
    }
  });
});
