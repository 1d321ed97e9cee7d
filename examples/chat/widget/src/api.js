// The bookmcp-chat HTTP API (docs/chat-api.md) as the widget uses it: the reader's anonymous
// session (tokens kept in localStorage, refreshed before they expire and on a 401), JSON calls,
// and the streaming POST /api/chat. Errors are thrown as ChatError with a `kind` the UI turns
// into a message: offline, network (unreachable or CORS), rate_limited, unauthorized, http.

const REFRESH_MARGIN_MS = 60_000;

export class ChatError extends Error {
  constructor(kind, message, extra = {}) {
    super(message);
    this.kind = kind;
    Object.assign(this, extra);
  }
}

function storage() {
  try {
    const probe = '__bookmcp_chat_probe__';
    window.localStorage.setItem(probe, '1');
    window.localStorage.removeItem(probe);
    return window.localStorage;
  } catch {
    // Storage blocked (private mode, sandboxed frame): keep things for this page only.
    const memory = new Map();
    return {
      getItem: (key) => (memory.has(key) ? memory.get(key) : null),
      setItem: (key, value) => memory.set(key, String(value)),
      removeItem: (key) => memory.delete(key),
    };
  }
}

export class ChatApi {
  constructor(backend) {
    this.backend = backend.replace(/\/+$/, '');
    this.store = storage();
    this.prefix = `bookmcp-chat:${this.backend}:`;
    this.sessionPromise = null;
  }

  // ---- small persistent state ---------------------------------------------------------------

  get(key) {
    const value = this.store.getItem(this.prefix + key);
    if (value === null) return null;
    try {
      return JSON.parse(value);
    } catch {
      return null;
    }
  }

  set(key, value) {
    try {
      if (value === null || value === undefined) this.store.removeItem(this.prefix + key);
      else this.store.setItem(this.prefix + key, JSON.stringify(value));
    } catch {
      // quota or blocked storage: the state lives for this page only
    }
  }

  get readerId() {
    return this.get('session')?.reader_id ?? null;
  }

  // ---- the reader's session -----------------------------------------------------------------

  async session({ force = false } = {}) {
    const stored = this.get('session');
    if (!force && stored && stored.expires_at - Date.now() > REFRESH_MARGIN_MS) return stored;
    // One refresh or creation at a time, however many calls need it.
    this.sessionPromise ??= this.renew(stored).finally(() => (this.sessionPromise = null));
    return this.sessionPromise;
  }

  async renew(stored) {
    if (stored?.refresh_token) {
      try {
        const body = await this.raw('POST', '/api/session/refresh', { refresh_token: stored.refresh_token });
        return this.keepSession(body);
      } catch (error) {
        if (error.kind !== 'unauthorized' && error.kind !== 'http') throw error;
        // The refresh token expired or was refused: start over as a new reader below.
      }
    }
    const body = await this.raw('POST', '/api/session');
    return this.keepSession(body);
  }

  keepSession(body) {
    if (!body || typeof body.access_token !== 'string') {
      throw new ChatError('http', 'The chat service answered the session request unexpectedly.');
    }
    const session = {
      access_token: body.access_token,
      refresh_token: body.refresh_token,
      reader_id: body.reader_id,
      expires_at: Date.now() + (Number(body.expires_in) || 1800) * 1000,
    };
    this.set('session', session);
    return session;
  }

  // ---- requests ---------------------------------------------------------------------------------

  // A fetch that turns the failures a browser can see into ChatErrors.
  async fetch(path, init) {
    if (typeof navigator !== 'undefined' && navigator.onLine === false) {
      throw new ChatError('offline', 'You are offline.');
    }
    let response;
    try {
      response = await fetch(this.backend + path, { mode: 'cors', credentials: 'omit', ...init });
    } catch (error) {
      if (error?.name === 'AbortError') throw error;
      if (typeof navigator !== 'undefined' && navigator.onLine === false) {
        throw new ChatError('offline', 'You are offline.');
      }
      // A TypeError from fetch: the host is down or unreachable, or CORS refused this page.
      throw new ChatError('network', `Cannot reach the chat service at ${this.backend}.`);
    }
    if (response.ok) return response;
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not JSON
    }
    const code = body?.error?.code ?? `http_${response.status}`;
    const message = body?.error?.message ?? `The chat service answered ${response.status}.`;
    if (response.status === 401) throw new ChatError('unauthorized', message, { status: 401, code });
    if (response.status === 429) {
      const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
      throw new ChatError('rate_limited', message, { status: 429, code, retryAfter });
    }
    throw new ChatError('http', message, { status: response.status, code });
  }

  // An unauthenticated JSON call.
  async raw(method, path, body) {
    const response = await this.fetch(path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return response.status === 204 ? null : response.json().catch(() => null);
  }

  // A call as the reader: refreshes the token first when it is about to expire, and once more
  // on a 401.
  async authorized(method, path, { body, headers = {}, signal } = {}) {
    for (let attempt = 0; ; ++attempt) {
      const session = await this.session({ force: attempt > 0 });
      try {
        return await this.fetch(path, {
          method,
          signal,
          headers: {
            ...headers,
            ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
            Authorization: `Bearer ${session.access_token}`,
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        if (error.kind === 'unauthorized' && attempt === 0) continue;
        throw error;
      }
    }
  }

  async json(method, path, body) {
    const response = await this.authorized(method, path, { body });
    if (response.status === 204) return null;
    return response.json().catch(() => null);
  }

  // ---- the API's routes -------------------------------------------------------------------------

  chat(request, signal) {
    return this.authorized('POST', '/api/chat', {
      body: request,
      signal,
      headers: { Accept: 'text/event-stream' },
    });
  }

  events(messageId, lastEventId, signal) {
    return this.authorized('GET', `/api/chat/${encodeURIComponent(messageId)}/events`, {
      signal,
      headers: { Accept: 'text/event-stream', ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) },
    });
  }

  cancel(messageId) {
    return this.json('POST', `/api/chat/${encodeURIComponent(messageId)}/cancel`);
  }

  conversations() {
    return this.json('GET', '/api/conversations');
  }

  conversation(id) {
    return this.json('GET', `/api/conversations/${encodeURIComponent(id)}`);
  }

  deleteConversation(id) {
    return this.json('DELETE', `/api/conversations/${encodeURIComponent(id)}`);
  }

  feedback(messageId, rating, reason) {
    return this.json('POST', `/api/messages/${encodeURIComponent(messageId)}/feedback`, reason ? { rating, reason } : { rating });
  }

  todo(todoId, action) {
    return this.json('POST', `/api/todos/${encodeURIComponent(todoId)}/${action}`);
  }
}

// Retry-After is seconds or an HTTP date; answers whole seconds (at least 1) or null.
export function parseRetryAfter(value) {
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Math.max(1, Number(value));
  const when = Date.parse(value);
  if (Number.isNaN(when)) return null;
  return Math.max(1, Math.ceil((when - Date.now()) / 1000));
}

// A random id for the client's own message ids (crypto.randomUUID needs a secure context).
export function randomId(prefix) {
  const bytes = new Uint8Array(12);
  (globalThis.crypto ?? window.crypto).getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
