// The widget's event-stream reader: fields, comments, CRLF/CR/LF line ends, and lines and
// events cut anywhere between network chunks.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SseParser } from '../src/sse.js';

function parse(chunks) {
  const events = [];
  const comments = [];
  const parser = new SseParser((event) => events.push(event), (comment) => comments.push(comment));
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  return { events, comments };
}

const STREAM =
  ': keep-alive\n\n' +
  'id: m_1:1\nevent: meta\ndata: {"message_id":"m_1","mode":"extractive"}\n\n' +
  'id: m_1:2\r\nevent: token\r\ndata: {"text":"Hello [1]"}\r\n\r\n' +
  'id: m_1:3\revent: token\rdata: {"text":" world"}\r\r' +
  'id: m_1:4\nevent: done\ndata: {"finish_reason":"stop"}\n\n';

const EXPECTED = [
  { id: 'm_1:1', event: 'meta', data: { message_id: 'm_1', mode: 'extractive' } },
  { id: 'm_1:2', event: 'token', data: { text: 'Hello [1]' } },
  { id: 'm_1:3', event: 'token', data: { text: ' world' } },
  { id: 'm_1:4', event: 'done', data: { finish_reason: 'stop' } },
];

test('a whole stream', () => {
  const { events, comments } = parse([STREAM]);
  assert.deepEqual(events, EXPECTED);
  assert.deepEqual(comments, ['keep-alive']);
});

test('cut at every position, and one character at a time', () => {
  for (let cut = 1; cut < STREAM.length; ++cut) {
    assert.deepEqual(parse([STREAM.slice(0, cut), STREAM.slice(cut)]).events, EXPECTED, `cut at ${cut}`);
  }
  assert.deepEqual(parse([...STREAM]).events, EXPECTED);
});

test('multi-line data, no space after the colon, unknown fields, an unterminated last event', () => {
  const { events } = parse(['data:{"a":\ndata: 1}\nretry: 10\nfoo: bar\n\n', 'event: token\ndata: {"text":"lost"}\n']);
  assert.deepEqual(events, [{ id: '', event: 'message', data: { a: 1 } }]);
});

test('an event without an id keeps the last id; data that is not JSON is kept raw', () => {
  const { events } = parse(['id: a:1\ndata: {}\n\n', 'data: not json\n\n']);
  assert.deepEqual(events, [
    { id: 'a:1', event: 'message', data: {} },
    { id: 'a:1', event: 'message', data: { raw: 'not json' } },
  ]);
});
