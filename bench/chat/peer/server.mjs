// The peer bookmcp-chat is measured against: a chat backend written the way the Vercel AI SDK's
// documentation shows it, on Node's own http server.
//
//   POST /api/chat  useChat's body ({id, messages: UIMessage[], trigger}) -> a UI message stream
//   GET  /health    200
//
// Per request: one MCP client of bookmcp (the AI SDK's createMCPClient over the official MCP
// SDK's StreamableHTTPClientTransport, a bearer JWT for the reader signed HS256 with node:crypto),
// its tools from mcpClient.tools(), streamText with stopWhen stepCountIs(5) against an
// OpenAI-compatible endpoint (@ai-sdk/openai-compatible), the answer piped to the response as a
// UI message stream; the MCP client is closed when the answer ends (onEnd), as the docs show.
//
// The reader is named by the chat id of the body (useChat's `id`): this stands in for the site's
// own session check, which is no part of what is measured.
//
// search_book's result goes to the model as numbered sources ("[n] Heading › Path (url)" and the
// snippet), the way bookmcp-chat hands it over, so that the model (the LLM double) can cite [n]
// and writes the same answer for both backends; --raw-tool-results keeps the AI SDK's default
// (the MCP result's content parts as they are).
//
//   node server.mjs --llm-url http://127.0.0.1:PORT/v1 --model double \
//        --mcp-url http://127.0.0.1:PORT/mcp --jwt-secret-file F [--host 127.0.0.1] [--port 0]
//
// Prints "listening on HOST:PORT" on stdout once bound.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { createMCPClient } from '@ai-sdk/mcp';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { convertToModelMessages, pipeUIMessageStreamToResponse, stepCountIs, streamText, toUIMessageStream } from 'ai';

import { readSecret, signToken } from './reader_token.mjs';

// Node's own option parser: unknown options and missing values are errors.
function parseArguments(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      'llm-url': { type: 'string', default: '' },
      model: { type: 'string', default: 'double' },
      'mcp-url': { type: 'string', default: '' },
      'jwt-secret-file': { type: 'string', default: '' },
      'raw-tool-results': { type: 'boolean', default: false },
    },
  });
  const options = {
    host: values.host,
    port: Number(values.port),
    llmUrl: values['llm-url'],
    model: values.model,
    mcpUrl: values['mcp-url'],
    jwtSecretFile: values['jwt-secret-file'],
    rawToolResults: values['raw-tool-results'],
  };
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new Error('--port wants 0..65535');
  for (const [flag, given] of [['--llm-url', options.llmUrl], ['--mcp-url', options.mcpUrl], ['--jwt-secret-file', options.jwtSecretFile]]) {
    if (!given) throw new Error(`${flag} is required`);
  }
  return options;
}

const options = parseArguments(process.argv.slice(2));
const jwtSecret = readSecret(options.jwtSecretFile);
const llm = createOpenAICompatible({ name: 'llm-double', baseURL: options.llmUrl, includeUsage: true });

function instructions() {
  return 'You are the reading assistant of an online textbook. Today is ' + new Date().toISOString().slice(0, 16).replace('T', ' ') +
    ' (UTC).\nAnswer questions about the book from the book: call search_book first, then answer briefly in Markdown and cite ' +
    'each section you use by its number in square brackets, like [1], exactly as the search results number them; never make ' +
    'up a number or a link. If the book does not cover the question, say so. Keep the reader\'s study todos with the todo ' +
    'tools. Ask before deleting a todo.';
}

// search_book's hits as numbered sources for the model.
function numberedSources({ output }) {
  const hits = output?.structuredContent?.hits;
  if (output?.isError || !Array.isArray(hits)) {
    const text = (output?.content ?? []).filter((part) => part.type === 'text').map((part) => part.text).join('\n');
    return { type: 'text', value: (output?.isError ? 'Error: ' : '') + text };
  }
  if (hits.length === 0) return { type: 'text', value: 'No section of the book matches.\n' };
  const value = hits.map((hit, i) => {
    const path = Array.isArray(hit.heading_path) && hit.heading_path.length > 0 ? hit.heading_path.join(' \u203a ') : hit.title ?? '';
    return `[${i + 1}] ${path} (${hit.url ?? ''})\n${hit.snippet ?? ''}\n\n`;
  }).join('');
  return { type: 'text', value };
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      size += chunk.length;
      if (size > 1 << 20) reject(new Error('body over 1 MiB'));
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function sendJson(response, status, body) {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function chat(request, response) {
  let body;
  try {
    body = JSON.parse(await readBody(request));
  } catch (error) {
    return sendJson(response, 400, { error: { code: 'bad_request', message: String(error.message ?? error) } });
  }
  if (typeof body?.id !== 'string' || !Array.isArray(body.messages)) {
    return sendJson(response, 400, { error: { code: 'bad_request', message: 'id and messages are required' } });
  }
  const abort = new AbortController();
  response.on('close', () => {
    if (!response.writableFinished) abort.abort();
  });

  const mcpClient = await createMCPClient({
    transport: new StreamableHTTPClientTransport(new URL(options.mcpUrl), {
      requestInit: { headers: { Authorization: `Bearer ${signToken(jwtSecret, `peer-${body.id}`)}` } },
    }),
  });
  let closed = false;
  const closeClient = async () => {
    if (closed) return;
    closed = true;
    await mcpClient.close();
  };
  try {
    const tools = await mcpClient.tools();
    if (!options.rawToolResults && tools.search_book) tools.search_book = { ...tools.search_book, toModelOutput: numberedSources };
    const result = streamText({
      model: llm.chatModel(options.model),
      instructions: instructions(),
      messages: await convertToModelMessages(body.messages),
      tools,
      stopWhen: stepCountIs(5),
      abortSignal: abort.signal,
      onEnd: closeClient,
      onAbort: closeClient,
      onError: ({ error }) => {
        console.error('streamText:', error?.message ?? error);
        closeClient();
      },
    });
    pipeUIMessageStreamToResponse({ response, stream: toUIMessageStream({ stream: result.stream }) });
  } catch (error) {
    await closeClient();
    throw error;
  }
}

const server = createServer((request, response) => {
  const path = new URL(request.url, 'http://localhost').pathname;
  if (request.method === 'GET' && path === '/health') return sendJson(response, 200, { status: 'ok' });
  if (request.method === 'POST' && path === '/api/chat') {
    chat(request, response).catch((error) => {
      console.error('POST /api/chat failed:', error?.message ?? error);
      if (!response.headersSent) sendJson(response, 500, { error: { code: 'internal', message: 'the request failed' } });
      else response.destroy();
    });
    return;
  }
  sendJson(response, 404, { error: { code: 'not_found', message: 'no such route' } });
});
server.listen(options.port, options.host, () => {
  const address = server.address();
  console.log(`listening on ${address.address}:${address.port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 2000).unref());
