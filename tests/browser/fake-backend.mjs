// A scripted stand-in for bookmcp-chat that speaks the HTTP API of docs/chat-api.md, for the
// widget's own tests (widget.test.mjs): it makes the cases the real backend makes rarely or
// never on cue (a stream cut in the middle, 429 with Retry-After, error events, expired tokens,
// a slow answer to stop) and records every request. It is not the backend: the real one is
// tested in chat.test.mjs.
//
// What an answer looks like is chosen by words in the question:
//   "slow"   tokens every 150 ms for ~30 s (to stop)
//   "drop"   the connection is cut after a few tokens; GET /api/chat/{id}/events replays the rest
//   "fail"   an error event (llm_unavailable)
//   "limit"  429 with Retry-After: 7
//   "remind" a todo_add tool call and a todo card
//   else     a search_book tool call, a two-paragraph answer citing [1] and [2], citations, done.
//
// `state.tokenGate`, when a test sets it, is awaited before each token after an answer's first,
// with the text sent so far: a test that must see the tokens arrive one by one holds the next
// until the page has shown the previous ones, rather than counting on the delays between them.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { WIDGET_DIST, freePort } from './helpers.mjs';

const CITATIONS = [
  { n: 1, url: '/docs/motion/kinematics#tuning', title: 'Kinematics and Control', heading_path: ['Kinematics and Control', 'PID control', 'Tuning'], path: '02-motion/kinematics.md', anchor: 'tuning' },
  { n: 2, url: '/docs/motion/kinematics#pid-control', title: 'Kinematics and Control', heading_path: ['Kinematics and Control', 'PID control'], path: '02-motion/kinematics.md', anchor: 'pid-control' },
];

function id(prefix) {
  return prefix + randomBytes(6).toString('hex');
}

export async function startFakeBackend({ allowedOrigin, accessTtl = 1800 } = {}) {
  const port = await freePort();
  const state = {
    requests: [],
    readers: new Map(), // access token -> reader id
    refresh: new Map(), // refresh token -> reader id
    answers: new Map(), // message id -> {events, done, listeners, reader, cancelled}
    conversations: new Map(), // id -> {id, reader, title, created_at, updated_at, messages}
    feedback: [],
    todos: new Map(),
    cancels: [],
    revoked: false,
    tokenGate: null, // async (textSentSoFar) => void, awaited before each next token
  };

  const cors = (request, headers = {}) => {
    if (request.headers.origin === allowedOrigin) {
      headers['Access-Control-Allow-Origin'] = allowedOrigin;
      headers.Vary = 'Origin';
      headers['Access-Control-Expose-Headers'] = 'Retry-After';
    }
    return headers;
  };

  const json = (request, response, status, body, extra = {}) => {
    response.writeHead(status, cors(request, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...extra }));
    response.end(body === undefined ? '' : JSON.stringify(body));
  };

  const error = (request, response, status, code, message, extra) => json(request, response, status, { error: { code, message } }, extra);

  const session = () => {
    const reader = id('r_');
    const access = id('at_');
    const refresh = id('rt_');
    state.readers.set(access, reader);
    state.refresh.set(refresh, reader);
    return { access_token: access, refresh_token: refresh, expires_in: accessTtl, reader_id: reader };
  };

  const readerOf = (request) => {
    const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
    if (!match || state.revoked) return null;
    return state.readers.get(match[1]) ?? null;
  };

  const body = (request) =>
    new Promise((resolve) => {
      let text = '';
      request.on('data', (chunk) => (text += chunk));
      request.on('end', () => {
        try {
          resolve(text ? JSON.parse(text) : {});
        } catch {
          resolve(null);
        }
      });
    });

  // ---- answers ---------------------------------------------------------------------------------

  function emit(answer, event, data) {
    const seq = answer.events.length + 1;
    const record = { id: `${answer.messageId}:${seq}`, event, data, seq };
    answer.events.push(record);
    for (const listener of answer.listeners) listener(record);
    if (event === 'done' || event === 'error') {
      answer.done = true;
      for (const listener of answer.listeners) listener(null);
      answer.listeners.clear();
    }
  }

  function store(answer) {
    const conversation = state.conversations.get(answer.conversationId);
    const text = answer.events.filter((e) => e.event === 'token').map((e) => e.data.text).join('');
    const citations = answer.events.filter((e) => e.event === 'citation').map((e) => e.data);
    const done = answer.events.find((e) => e.event === 'done');
    conversation.messages.push({
      id: answer.messageId,
      role: 'assistant',
      text,
      citations,
      tool_calls: answer.events.filter((e) => e.event === 'tool_result').map((e) => ({ id: e.data.id, name: e.data.name, arguments: {}, is_error: false, summary: e.data.summary })),
      finish_reason: done?.data.finish_reason ?? 'error',
      created_at: new Date().toISOString(),
    });
    conversation.updated_at = new Date().toISOString();
  }

  async function script(answer, text) {
    const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const lower = text.toLowerCase();
    emit(answer, 'meta', { message_id: answer.messageId, conversation_id: answer.conversationId, mode: 'extractive', reader_id: answer.reader });
    const tokens = async (pieces, delay) => {
      let sent = '';
      for (const piece of pieces) {
        if (sent && state.tokenGate) await state.tokenGate(sent);
        if (answer.cancelled) return false;
        emit(answer, 'token', { text: piece });
        sent += piece;
        await wait(delay);
      }
      return !answer.cancelled;
    };
    if (lower.includes('fail')) {
      await wait(30);
      emit(answer, 'error', { code: 'llm_unavailable', message: 'The language model is not reachable.' });
      return;
    }
    if (lower.includes('remind')) {
      emit(answer, 'tool_call', { id: 'tc_1', name: 'todo_add', arguments: { title: 'redo the kinematics exercises' }, label: 'Added a todo' });
      const todo = { id: 7, title: 'redo the kinematics exercises', status: 'open', due: '2030-01-04', overdue: false, tags: [], priority: 'medium' };
      state.todos.set(7, todo);
      emit(answer, 'tool_result', { id: 'tc_1', name: 'todo_add', is_error: false, summary: 'added', todo });
      await tokens(['Added **redo the kinematics exercises** ', '(due 2030-01-04) to your list.'], 10);
      emit(answer, 'done', { message_id: answer.messageId, finish_reason: 'stop', timings: { first_token_ms: 1, total_ms: 2 } });
      return;
    }
    emit(answer, 'tool_call', { id: 'tc_1', name: 'search_book', arguments: { query: text }, label: `Searched the book for \u201c${text}\u201d` });
    await wait(20);
    emit(answer, 'tool_result', { id: 'tc_1', name: 'search_book', is_error: false, summary: '2 sections found' });
    if (lower.includes('slow')) {
      const pieces = Array.from({ length: 200 }, (_, i) => `word${i} `);
      await tokens(pieces, 150);
      emit(answer, 'done', { message_id: answer.messageId, finish_reason: answer.cancelled ? 'cancelled' : 'stop', timings: { first_token_ms: 1, total_ms: 2 } });
      return;
    }
    const pieces = ['Start with ', 'only P, raise it ', 'until the joint oscillates, ', 'then halve it [1].', '\n\n', 'Then add D ', 'and a little I [2].'];
    if (!(await tokens(pieces, lower.includes('drop') ? 60 : 25))) {
      emit(answer, 'done', { message_id: answer.messageId, finish_reason: 'cancelled', timings: { first_token_ms: 1, total_ms: 2 } });
      return;
    }
    for (const citation of CITATIONS) emit(answer, 'citation', citation);
    emit(answer, 'done', { message_id: answer.messageId, finish_reason: 'stop', timings: { first_token_ms: 1, total_ms: 2 } });
  }

  // Writes the answer's events after `afterSeq` to the response, and follows it. `cutAfter`: the
  // socket is destroyed after that many events (a dropped connection).
  function stream(request, response, answer, afterSeq, cutAfter = Infinity) {
    response.writeHead(200, cors(request, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' }));
    response.write(': hello\n\n');
    let written = 0;
    const write = (record) => {
      if (record === null) {
        response.end();
        return;
      }
      if (record.seq <= afterSeq) return;
      // One event split over two writes, to exercise the widget's line buffering.
      const text = `id: ${record.id}\nevent: ${record.event}\ndata: ${JSON.stringify(record.data)}\n\n`;
      const cut = Math.floor(text.length / 2);
      response.write(text.slice(0, cut));
      response.write(text.slice(cut));
      written += 1;
      if (written >= cutAfter) {
        answer.listeners.delete(write);
        request.socket.destroy();
      }
    };
    for (const record of answer.events) {
      write(record);
      if (request.socket.destroyed) return;
    }
    if (answer.done) {
      response.end();
      return;
    }
    answer.listeners.add(write);
    response.on('close', () => answer.listeners.delete(write));
  }

  // ---- routes -------------------------------------------------------------------------------------

  const server = http.createServer(async (request, response) => {
    const url = new URL(request.url, 'http://localhost');
    const record = { method: request.method, path: url.pathname, headers: request.headers };
    state.requests.push(record);
    if (request.method === 'OPTIONS') {
      if (request.headers.origin !== allowedOrigin) {
        response.writeHead(403);
        response.end();
        return;
      }
      response.writeHead(204, {
        ...cors(request),
        'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, Last-Event-ID',
        'Access-Control-Max-Age': '600',
      });
      response.end();
      return;
    }
    if (request.method === 'GET' && (url.pathname === '/widget.js' || url.pathname === '/widget.css' || url.pathname === '/widget.js.map')) {
      const file = path.join(WIDGET_DIST, url.pathname.slice(1));
      const type = url.pathname.endsWith('.css') ? 'text/css; charset=utf-8' : url.pathname.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8';
      response.writeHead(200, { 'Content-Type': type, 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-cache' });
      response.end(readFileSync(file));
      return;
    }
    if (request.method === 'POST' && url.pathname === '/api/session') {
      json(request, response, 200, session());
      return;
    }
    if (request.method === 'POST' && url.pathname === '/api/session/refresh') {
      const input = await body(request);
      const reader = state.refresh.get(input?.refresh_token);
      if (!reader) return error(request, response, 401, 'unauthorized', 'bad refresh token');
      const access = id('at_');
      state.readers.set(access, reader);
      state.revoked = false;
      json(request, response, 200, { access_token: access, refresh_token: input.refresh_token, expires_in: accessTtl, reader_id: reader });
      return;
    }
    const reader = readerOf(request);
    if (!reader) return error(request, response, 401, 'unauthorized', 'a valid reader token is required');
    record.reader = reader;
    const parts = url.pathname.split('/').filter(Boolean);

    if (request.method === 'POST' && url.pathname === '/api/chat') {
      const input = await body(request);
      record.body = input;
      const text = input?.message?.text ?? '';
      if (text.toLowerCase().includes('limit')) return error(request, response, 429, 'rate_limited', 'slow down', { 'Retry-After': '7' });
      let conversation = input.conversation_id ? state.conversations.get(input.conversation_id) : null;
      if (!conversation || conversation.reader !== reader) {
        const now = new Date().toISOString();
        conversation = { id: id('c_'), reader, title: text.slice(0, 60), created_at: now, updated_at: now, messages: [] };
        state.conversations.set(conversation.id, conversation);
      }
      conversation.messages.push({ id: input.message.id, role: 'user', text, citations: [], tool_calls: [], finish_reason: null, created_at: new Date().toISOString() });
      const answer = { messageId: id('m_'), conversationId: conversation.id, reader, events: [], done: false, listeners: new Set(), cancelled: false };
      state.answers.set(answer.messageId, answer);
      stream(request, response, answer, 0, text.toLowerCase().includes('drop') ? 5 : Infinity);
      script(answer, text).then(() => store(answer));
      return;
    }
    if (request.method === 'GET' && parts[0] === 'api' && parts[1] === 'chat' && parts[3] === 'events') {
      const answer = state.answers.get(parts[2]);
      if (!answer || answer.reader !== reader) return error(request, response, 404, 'not_found', 'no such answer');
      const last = request.headers['last-event-id'] ?? '';
      const seq = last ? Number(last.split(':').pop()) : 0;
      record.lastEventId = last;
      stream(request, response, answer, seq);
      return;
    }
    if (request.method === 'POST' && parts[0] === 'api' && parts[1] === 'chat' && parts[3] === 'cancel') {
      const answer = state.answers.get(parts[2]);
      if (!answer || answer.reader !== reader) return error(request, response, 404, 'not_found', 'no such answer');
      answer.cancelled = true;
      state.cancels.push(parts[2]);
      json(request, response, 202, { status: 'cancelling' });
      return;
    }
    if (request.method === 'GET' && url.pathname === '/api/conversations') {
      const list = [...state.conversations.values()]
        .filter((c) => c.reader === reader)
        .reverse()
        .map(({ id: cid, title, created_at, updated_at }) => ({ id: cid, title, created_at, updated_at }));
      json(request, response, 200, { conversations: list });
      return;
    }
    if (parts[0] === 'api' && parts[1] === 'conversations' && parts.length === 3) {
      const conversation = state.conversations.get(parts[2]);
      if (!conversation || conversation.reader !== reader) return error(request, response, 404, 'not_found', 'no such conversation');
      if (request.method === 'DELETE') {
        state.conversations.delete(parts[2]);
        json(request, response, 204);
        return;
      }
      json(request, response, 200, { id: conversation.id, title: conversation.title, created_at: conversation.created_at, messages: conversation.messages });
      return;
    }
    if (request.method === 'POST' && parts[0] === 'api' && parts[1] === 'messages' && parts[3] === 'feedback') {
      const input = await body(request);
      state.feedback.push({ messageId: parts[2], ...input });
      json(request, response, 204);
      return;
    }
    if (request.method === 'POST' && parts[0] === 'api' && parts[1] === 'todos' && (parts[3] === 'complete' || parts[3] === 'reopen')) {
      const todo = state.todos.get(Number(parts[2]));
      if (!todo) return error(request, response, 404, 'not_found', 'no such todo');
      todo.status = parts[3] === 'complete' ? 'done' : 'open';
      json(request, response, 200, { todo });
      return;
    }
    error(request, response, 404, 'not_found', `${request.method} ${url.pathname}`);
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    state,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
