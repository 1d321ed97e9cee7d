// The book through the official TypeScript client over stdio: bookmcp serving a copy of the
// sample book: index, search, open a resource_link, cancel an indexing run, re-index an edit.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CallToolResultSchema, ResourceListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { SAMPLE_DOCUMENTS, connectBook, copySampleBook, generateChapters } from './book-helpers.mjs';
import { TEST_TIMEOUT_MS, bookmcpBinary, temporaryDirectory, textOf, within } from './helpers.mjs';

bookmcpBinary(); // fails the file at once, with a clear message, when BOOKMCP_BIN is unset

const GENERATED = 400;

describe('bookmcp book tools over stdio (SDK client)', { timeout: 10 * TEST_TIMEOUT_MS }, () => {
  let temporary;
  let docs;
  let server;
  let listChanged = 0;
  before(async () => {
    temporary = temporaryDirectory('bookmcp-e2e-book-');
    docs = copySampleBook(temporary.dir);
    server = await connectBook({ dataDir: path.join(temporary.dir, 'data'), docs: [docs] });
    server.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
      listChanged += 1;
    });
  });
  after(async () => {
    await server?.close();
    temporary?.cleanup();
  });

  const call = async (name, args = {}) => {
    const result = await server.client.callTool({ name, arguments: args });
    assert.ok(!result.isError, `${name} ${JSON.stringify(args)} failed: ${textOf(result)}`);
    return result;
  };

  it('lists the book tools with output schemas and the book resources', async () => {
    const { tools } = await server.client.listTools();
    const names = tools.map((tool) => tool.name);
    for (const name of ['search_book', 'index_documents', 'index_status', 'remove_document']) {
      const tool = tools.find((item) => item.name === name);
      assert.ok(tool, `${name} is listed (got ${names})`);
      assert.ok(tool.outputSchema, `${name} declares an outputSchema`);
    }
    const { resources } = await server.client.listResources();
    assert.ok(resources.some((resource) => resource.uri === 'book://toc'));
    const { resourceTemplates } = await server.client.listResourceTemplates();
    assert.ok(resourceTemplates.some((item) => item.uriTemplate === 'book://doc/{+path}'));
  });

  it('indexes the book (the start-up run may have done it already)', async () => {
    const { structuredContent } = await call('index_documents');
    assert.equal(structuredContent.failed, 0);
    assert.equal(structuredContent.added + structuredContent.unchanged, SAMPLE_DOCUMENTS);
    const status = (await call('index_status')).structuredContent;
    assert.equal(status.documents, SAMPLE_DOCUMENTS);
    assert.ok(status.chunks > SAMPLE_DOCUMENTS);
    assert.ok(status.size_on_disk_bytes > 0);
  });

  it('searches with citations and opens a resource_link with readResource', async () => {
    const result = await call('search_book', { query: 'how to tune a PID controller', limit: 3 });
    const { hits } = result.structuredContent;
    assert.ok(hits.length >= 1 && hits.length <= 3);
    assert.equal(hits[0].path, '02-motion/kinematics.md');
    assert.match(hits[0].url, /^\/docs\/motion\/kinematics#/);
    assert.match(hits[0].snippet, /\*\*/);
    const links = result.content.filter((block) => block.type === 'resource_link');
    assert.equal(links.length, hits.length);
    assert.equal(links[0].uri, hits[0].uri);
    assert.equal(links[0].mimeType, 'text/markdown');
    assert.ok(links[0].name && links[0].title);
    const { contents } = await server.client.readResource({ uri: links[0].uri });
    assert.equal(contents.length, 1);
    assert.equal(contents[0].mimeType, 'text/markdown');
    assert.match(contents[0].text, /PID|Tuning/);

    const toc = await server.client.readResource({ uri: 'book://toc' });
    assert.match(toc.contents[0].text, /\[Kinematics and Control\]\(book:\/\/doc\/02-motion\/kinematics\.md\)/);
  });

  it('refuses paths outside the docs root', async () => {
    const result = await server.client.callTool({ name: 'index_documents', arguments: { paths: ['../'] } });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /outside/);
  });

  it('re-indexes an edited file: one update, the new words are searchable', async () => {
    const file = path.join(docs, '02-motion', 'kinematics.md');
    writeFileSync(file, readFileSync(file, 'utf8') + '\n## Quokka joints\n\nA quokka joint is a made-up joint for this test.\n');
    const { structuredContent } = await call('index_documents');
    assert.equal(structuredContent.updated, 1);
    assert.equal(structuredContent.added, 0);
    const { hits } = (await call('search_book', { query: 'quokka joint' })).structuredContent;
    assert.equal(hits[0].path, '02-motion/kinematics.md');
    assert.equal(hits[0].anchor, 'quokka-joints');
  });

  it('cancels an indexing run between files; the index stays consistent and the next run completes', async () => {
    generateChapters(path.join(docs, 'generated'), GENERATED);
    const listChangedBefore = listChanged;
    const controller = new AbortController();
    let lastProgress;
    let searchDuringRun;
    const running = server.client.callTool({ name: 'index_documents', arguments: {} }, CallToolResultSchema, {
      signal: controller.signal,
      timeout: TEST_TIMEOUT_MS,
      onprogress: (progress) => {
        lastProgress = progress;
        // Searches are answered from the last published snapshot while the run goes on.
        searchDuringRun ??= server.client.callTool({ name: 'search_book', arguments: { query: 'PID controller' } });
        if (progress.progress >= 20) controller.abort('enough');
      },
    });
    await assert.rejects(running);
    assert.ok(lastProgress.progress >= 20 && lastProgress.total === GENERATED + SAMPLE_DOCUMENTS, JSON.stringify(lastProgress));

    const during = await searchDuringRun;
    assert.equal(during.structuredContent.hits[0].path, '02-motion/kinematics.md');

    // This call waits for the cancelled run to stop, then indexes the rest.
    const rest = (await call('index_documents')).structuredContent;
    assert.equal(rest.cancelled, false);
    assert.ok(rest.added > 0 && rest.added < GENERATED, `the cancelled run kept its files (added now: ${rest.added})`);
    assert.equal(rest.added + rest.unchanged, GENERATED + SAMPLE_DOCUMENTS);
    const status = (await call('index_status')).structuredContent;
    assert.equal(status.documents, GENERATED + SAMPLE_DOCUMENTS);
    assert.equal(status.registry_generation, status.index_generation);
    assert.equal(status.indexing, false);
    assert.ok(listChanged > listChangedBefore, 'resources/list_changed after documents were added');

    const { hits } = (await call('search_book', { query: 'servo gripper torque', limit: 10, path_prefix: 'generated' })).structuredContent;
    assert.equal(hits.length, 10);
    for (const hit of hits) assert.match(hit.path, /^generated\/chapter-\d{4}\.md$/);
  });
});

describe('bookmcp re-scans its --docs roots with --reindex-interval', { timeout: 5 * TEST_TIMEOUT_MS }, () => {
  let temporary;
  let server;
  after(async () => {
    await server?.close();
    temporary?.cleanup();
  });

  it('indexes at start, then picks up a new file without any tool call', async () => {
    temporary = temporaryDirectory('bookmcp-e2e-reindex-');
    const docs = copySampleBook(temporary.dir);
    let changes = 0;
    let changed;
    const nextChange = () => new Promise((resolve) => (changed = resolve));
    let waiting = nextChange();
    server = await connectBook({ dataDir: path.join(temporary.dir, 'data'), docs: [docs], args: ['--reindex-interval', '300ms'] });
    server.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
      changes += 1;
      changed();
    });
    // The start-up run may have finished before the handler was set: ask index_status.
    const first = (await server.client.callTool({ name: 'index_status', arguments: {} })).structuredContent;
    if (first.documents !== SAMPLE_DOCUMENTS) await within(TEST_TIMEOUT_MS, waiting, 'the start-up run');
    waiting = nextChange();
    writeFileSync(path.join(docs, 'wombats.md'), '# Wombats\n\nWombats dig burrows with their claws.\n');
    // The start-up run's own notification may still be in flight: wait for notifications until
    // the interval run has indexed the new file.
    let hits = [];
    const deadline = Date.now() + TEST_TIMEOUT_MS;
    while (hits[0]?.path !== 'wombats.md') {
      await within(Math.max(1, deadline - Date.now()), waiting, 'resources/list_changed after the new file');
      waiting = nextChange();
      ({ hits } = (await server.client.callTool({ name: 'search_book', arguments: { query: 'wombat burrows' } })).structuredContent);
    }
    assert.equal(hits[0].path, 'wombats.md');
    const status = (await server.client.callTool({ name: 'index_status', arguments: {} })).structuredContent;
    assert.equal(status.documents, SAMPLE_DOCUMENTS + 1);
    assert.equal(status.last_run.trigger, 'interval');
    assert.ok(changes >= 1);
  });
});
