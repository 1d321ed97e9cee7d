// An incremental reader of a text/event-stream body (the HTML Standard's event-stream format):
// lines may end in CRLF, LF or CR and may be cut anywhere between two network chunks; "id:",
// "event:" and "data:" fields build an event that a blank line dispatches; lines starting with
// ":" are comments (keep-alives). Used instead of EventSource, which cannot POST or send an
// Authorization header.

export class SseParser {
  constructor(onEvent, onComment = () => {}) {
    this.onEvent = onEvent;
    this.onComment = onComment;
    this.buffer = '';
    this.pendingCR = false; // the previous chunk ended in "\r": a "\n" starting the next is part of it
    this.reset();
    this.lastEventId = '';
  }

  reset() {
    this.event = '';
    this.data = [];
    this.id = null;
    this.hasData = false;
  }

  // Feeds decoded text; dispatches every event completed by it.
  push(text) {
    if (!text) return;
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1);
    this.pendingCR = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; ++i) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer.slice(start, i));
      if (c === 13) {
        if (i + 1 === this.buffer.length) this.pendingCR = true;
        else if (this.buffer.charCodeAt(i + 1) === 10) ++i;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  // The end of the body: an event not closed by a blank line is dropped, as the standard says.
  end() {
    this.buffer = '';
    this.reset();
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) {
      this.onComment(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.data.push(value);
      this.hasData = true;
    } else if (field === 'event') {
      this.event = value;
    } else if (field === 'id') {
      if (!value.includes('\0')) this.id = value;
    }
    // "retry" and unknown fields are ignored: reconnection is the caller's business.
  }

  dispatch() {
    if (this.id !== null) this.lastEventId = this.id;
    if (this.hasData) {
      const raw = this.data.join('\n');
      let data;
      try {
        data = JSON.parse(raw);
      } catch {
        data = { raw };
      }
      this.onEvent({ id: this.id ?? this.lastEventId, event: this.event || 'message', data });
    }
    this.reset();
  }
}

// Reads a fetch Response body as SSE until it ends; calls onEvent for each event. Resolves when
// the body ends, rejects when reading fails (network drop, abort).
export async function readSse(response, onEvent, onComment) {
  const parser = new SseParser(onEvent, onComment);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(decoder.decode(value, { stream: true }));
    }
    parser.push(decoder.decode());
    parser.end();
  } finally {
    try {
      reader.releaseLock();
    } catch {
      // already released
    }
  }
}
