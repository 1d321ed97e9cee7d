// One assistant message in the transcript: its tool cards, its Markdown (rendered as it streams),
// its citation chips and sources list, and its actions (copy, feedback). It is fed the events of
// POST /api/chat (or of a replay) one by one, or built whole from a stored message.

import { h, icon } from './dom.js';
import { headingPath, renderMarkdown, siteUrl } from './markdown.js';

const TOOL_LABELS = {
  todo_add: 'Added a todo',
  todo_list: 'Looked at your todos',
  todo_get: 'Looked at a todo',
  todo_update: 'Changed a todo',
  todo_complete: 'Marked a todo done',
  todo_reopen: 'Reopened a todo',
  todo_delete: 'Deleted a todo',
};

function toolLabel(call) {
  if (call.label) return call.label;
  if (call.name === 'search_book') {
    const query = call.arguments?.query;
    return query ? `Searched the book for \u201c${query}\u201d` : 'Searched the book';
  }
  return TOOL_LABELS[call.name] ?? `Used ${call.name}`;
}

export function formatDue(due) {
  if (typeof due !== 'string' || !due) return '';
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(due);
  const date = new Date(dateOnly ? `${due}T00:00:00` : due);
  if (Number.isNaN(date.getTime())) return due;
  const options = { weekday: 'short', day: 'numeric', month: 'short' };
  if (!dateOnly) Object.assign(options, { hour: '2-digit', minute: '2-digit' });
  try {
    return date.toLocaleString(undefined, options);
  } catch {
    return due;
  }
}

// Seq of an event id "<message_id>:<seq>" (NaN when there is none).
function sequenceOf(id) {
  const colon = typeof id === 'string' ? id.lastIndexOf(':') : -1;
  return colon < 0 ? Number.NaN : Number(id.slice(colon + 1));
}

export class Answer {
  // hooks: {baseUrl, onTodo(todoId, action) -> Promise<todo>, onFeedback(messageId, rating, reason),
  //         onCopy(text) -> Promise, onMeta(data), onFinish(answer), onRender()}
  constructor(hooks) {
    this.hooks = hooks;
    this.messageId = null;
    this.lastEventId = null;
    this.lastSeq = -1;
    this.text = '';
    this.citations = new Map();
    this.tools = new Map();
    this.finished = false;
    this.finishReason = null;
    this.tokenEvents = 0;
    this.renderScheduled = false;

    this.toolsBox = h('div.bmc-tools');
    this.body = h('div.bmc-body.bmc-markdown');
    this.sources = h('div.bmc-sources', { hidden: true });
    this.status = h('p.bmc-msg-status', { hidden: true });
    this.actions = h('div.bmc-actions', { hidden: true });
    this.element = h(
      'article.bmc-msg.bmc-assistant',
      { 'aria-label': 'Answer', dataset: { state: 'streaming' } },
      this.toolsBox,
      this.body,
      this.status,
      this.sources,
      this.actions,
    );
    this.typing = h('span.bmc-typing', { 'aria-hidden': 'true' }, h('span'), h('span'), h('span'));
    this.body.append(this.typing);
  }

  // ---- the stream -----------------------------------------------------------------------------

  // Returns false for an event already seen (a replay after a reconnection starts after the
  // last id it was given, but a server may repeat).
  handle({ id, event, data }) {
    const seq = sequenceOf(id);
    if (!Number.isNaN(seq)) {
      if (seq <= this.lastSeq) return false;
      this.lastSeq = seq;
    }
    if (id) this.lastEventId = id;
    switch (event) {
      case 'meta':
        this.setMessageId(data.message_id);
        this.hooks.onMeta?.(data, this);
        break;
      case 'token':
        if (typeof data.text === 'string' && data.text) {
          this.text += data.text;
          this.tokenEvents += 1;
          this.scheduleRender();
        }
        break;
      case 'tool_call':
        this.toolCall(data);
        break;
      case 'tool_result':
        this.toolResult(data);
        break;
      case 'citation':
        if (Number.isFinite(Number(data.n))) {
          this.citations.set(Number(data.n), data);
          this.scheduleRender();
        }
        break;
      case 'done':
        if (data.message_id) this.setMessageId(data.message_id);
        this.finish(data.finish_reason || 'stop');
        break;
      case 'error':
        this.fail(data);
        break;
      default:
        break;
    }
    return true;
  }

  setMessageId(id) {
    if (typeof id !== 'string' || !id) return;
    this.messageId = id;
    this.element.dataset.messageId = id;
  }

  scheduleRender() {
    if (this.renderScheduled) return;
    this.renderScheduled = true;
    requestAnimationFrame(() => {
      this.renderScheduled = false;
      this.render();
    });
  }

  render() {
    const streaming = !this.finished;
    renderMarkdown(this.body, this.text, this.citations, { baseUrl: this.hooks.baseUrl, streaming });
    if (streaming) this.body.append(this.typing);
    this.renderSources();
    this.hooks.onRender?.(this);
  }

  renderSources() {
    const cited = [...this.citations.values()].sort((a, b) => Number(a.n) - Number(b.n));
    if (cited.length === 0) {
      this.sources.hidden = true;
      return;
    }
    const list = h('ol.bmc-sources-list', { 'aria-label': 'Sources' });
    for (const citation of cited) {
      const where = headingPath(citation);
      list.append(
        h(
          'li',
          { value: String(citation.n) },
          h('a', { href: siteUrl(citation.url, this.hooks.baseUrl), dataset: { source: String(citation.n) } }, where || citation.url),
        ),
      );
    }
    this.sources.replaceChildren(h('p.bmc-sources-title', { 'aria-hidden': 'true', text: 'Sources' }), list);
    this.sources.hidden = false;
  }

  // ---- tool cards -------------------------------------------------------------------------------

  toolCall(call) {
    const label = h('span.bmc-tool-label', { text: toolLabel(call) });
    const summary = h('span.bmc-tool-summary');
    const card = h(
      'div.bmc-tool',
      { dataset: { tool: call.name || '', state: 'running' } },
      icon(call.name === 'search_book' ? 'search' : 'todo'),
      h('span.bmc-tool-text', {}, label, summary),
    );
    const todos = h('div.bmc-todos');
    this.toolsBox.append(card, todos);
    this.tools.set(call.id, { card, summary, todos });
  }

  toolResult(result) {
    let entry = this.tools.get(result.id);
    if (!entry) {
      this.toolCall({ id: result.id, name: result.name });
      entry = this.tools.get(result.id);
    }
    entry.card.dataset.state = result.is_error ? 'error' : 'done';
    if (result.summary) entry.summary.textContent = ` \u2014 ${result.summary}`;
    const todos = [];
    if (result.todo && typeof result.todo === 'object') todos.push(result.todo);
    if (Array.isArray(result.todos)) todos.push(...result.todos.slice(0, 20));
    for (const todo of todos) entry.todos.append(this.todoCard(todo));
  }

  todoCard(todo) {
    const title = h('span.bmc-todo-title', { text: todo.title || '(untitled)' });
    const due = h('span.bmc-todo-due');
    const state = h('span.bmc-todo-status');
    const button = h('button.bmc-button.bmc-todo-action', { type: 'button' });
    const error = h('span.bmc-todo-error', { role: 'alert' });
    const card = h(
      'div.bmc-todo',
      { dataset: { todoId: String(todo.id ?? '') } },
      h('span.bmc-todo-check', { 'aria-hidden': 'true' }),
      h('span.bmc-todo-text', {}, title, due, state),
      button,
      error,
    );
    const show = (current) => {
      const done = current.status === 'done';
      card.dataset.status = done ? 'done' : 'open';
      const when = formatDue(current.due);
      due.textContent = when ? ` \u00b7 due ${when}` : '';
      state.textContent = done ? ' \u00b7 Done' : current.overdue ? ' \u00b7 Overdue' : '';
      title.textContent = current.title || title.textContent;
      button.textContent = done ? 'Reopen' : 'Done';
      button.setAttribute('aria-label', `${done ? 'Reopen' : 'Mark done'}: ${current.title || 'todo'}`);
      card.querySelector('.bmc-todo-check').replaceChildren(done ? icon('check') : '');
    };
    show(todo);
    let current = todo;
    button.addEventListener('click', async () => {
      if (!this.hooks.onTodo || todo.id === undefined) return;
      const action = current.status === 'done' ? 'reopen' : 'complete';
      button.disabled = true;
      button.setAttribute('aria-busy', 'true');
      error.textContent = '';
      try {
        const updated = await this.hooks.onTodo(todo.id, action);
        current = { ...current, ...(updated ?? {}), status: updated?.status ?? (action === 'complete' ? 'done' : 'open') };
        show(current);
      } catch (failure) {
        error.textContent = failure?.message || 'Could not change the todo.';
      } finally {
        button.disabled = false;
        button.removeAttribute('aria-busy');
        button.focus();
      }
    });
    return card;
  }

  // ---- the end ----------------------------------------------------------------------------------

  finish(reason) {
    if (this.finished) return;
    this.finished = true;
    this.finishReason = reason;
    this.element.dataset.state = reason === 'cancelled' ? 'cancelled' : 'done';
    this.render();
    if (reason === 'cancelled') this.showStatus('Stopped.');
    else if (reason === 'length') this.showStatus('The answer was cut at its length limit.');
    if (!this.text.trim() && reason !== 'cancelled') {
      this.body.replaceChildren(h('p', { text: 'No answer was given.' }));
    }
    this.showActions();
    this.hooks.onFinish?.(this);
  }

  fail(error) {
    if (this.finished) return;
    this.finished = true;
    this.finishReason = 'error';
    this.error = error;
    this.element.dataset.state = 'error';
    this.render();
    if (!this.text) this.body.replaceChildren();
    const wait = Number(error.retry_after);
    const retry = error.code !== 'rate_limited' && wait > 0 ? ` Try again in ${Math.ceil(wait)} seconds.` : '';
    this.showStatus(`${error.message || 'Something went wrong.'}${retry}`, true);
    if (this.text.trim()) this.showActions();
    this.hooks.onFinish?.(this);
  }

  showStatus(text, isError = false) {
    this.status.textContent = text;
    this.status.hidden = false;
    this.status.classList.toggle('bmc-msg-error', isError);
  }

  showActions() {
    if (!this.messageId && !this.text) return;
    const copy = h('button.bmc-icon-button.bmc-copy', { type: 'button', 'aria-label': 'Copy answer', title: 'Copy answer' }, icon('copy'));
    copy.addEventListener('click', async () => {
      try {
        await this.hooks.onCopy?.(this.text);
        copy.setAttribute('aria-label', 'Copied');
        copy.title = 'Copied';
        copy.classList.add('bmc-copied');
        setTimeout(() => {
          copy.setAttribute('aria-label', 'Copy answer');
          copy.title = 'Copy answer';
          copy.classList.remove('bmc-copied');
        }, 2000);
      } catch {
        copy.title = 'Copy failed';
      }
    });
    this.actions.replaceChildren(copy);
    if (this.messageId && this.hooks.onFeedback) this.actions.append(...this.feedbackControls());
    this.actions.hidden = false;
  }

  feedbackControls() {
    const thanks = h('span.bmc-feedback-thanks', { role: 'status' });
    const up = h('button.bmc-icon-button.bmc-feedback', { type: 'button', 'aria-label': 'Good answer', title: 'Good answer', 'aria-pressed': 'false', dataset: { rating: 'up' } }, icon('up'));
    const down = h('button.bmc-icon-button.bmc-feedback', { type: 'button', 'aria-label': 'Bad answer', title: 'Bad answer', 'aria-pressed': 'false', dataset: { rating: 'down' } }, icon('down'));
    const reasonId = `bmc-reason-${this.messageId}`;
    const reason = h('input.bmc-reason-input', { id: reasonId, type: 'text', maxlength: '500', autocomplete: 'off' });
    const form = h(
      'form.bmc-reason',
      { hidden: true },
      h('label', { for: reasonId, text: 'What was wrong? (optional)' }),
      h('span.bmc-reason-row', {}, reason, h('button.bmc-button', { type: 'submit', text: 'Send' })),
    );
    const send = async (rating, text) => {
      try {
        await this.hooks.onFeedback(this.messageId, rating, text);
        thanks.textContent = 'Thanks for the feedback.';
      } catch (failure) {
        thanks.textContent = failure?.message || 'The feedback could not be sent.';
      }
    };
    up.addEventListener('click', () => {
      up.setAttribute('aria-pressed', 'true');
      down.setAttribute('aria-pressed', 'false');
      form.hidden = true;
      send('up');
    });
    down.addEventListener('click', () => {
      down.setAttribute('aria-pressed', 'true');
      up.setAttribute('aria-pressed', 'false');
      form.hidden = false;
      send('down');
      reason.focus();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = reason.value.trim();
      form.hidden = true;
      if (text) send('down', text);
      down.focus();
    });
    return [up, down, thanks, form];
  }

  // ---- a stored message (GET /api/conversations/{id}) ------------------------------------------

  static fromStored(message, hooks) {
    const answer = new Answer(hooks);
    answer.setMessageId(message.id);
    for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
      answer.toolCall(call);
      answer.toolResult({ id: call.id, name: call.name, is_error: call.is_error, summary: call.summary, todo: call.todo, todos: call.todos });
    }
    answer.text = typeof message.text === 'string' ? message.text : '';
    for (const citation of Array.isArray(message.citations) ? message.citations : []) {
      if (Number.isFinite(Number(citation.n))) answer.citations.set(Number(citation.n), citation);
    }
    const reason = message.finish_reason || 'stop';
    answer.finished = true;
    answer.finishReason = reason;
    answer.element.dataset.state = reason === 'cancelled' ? 'cancelled' : reason === 'error' ? 'error' : 'done';
    renderMarkdown(answer.body, answer.text, answer.citations, { baseUrl: hooks.baseUrl });
    answer.renderSources();
    if (reason === 'cancelled') answer.showStatus('Stopped.');
    answer.showActions();
    // The reader's earlier rating, when the backend keeps it with the message.
    if (message.feedback === 'up' || message.feedback === 'down') {
      answer.actions.querySelector(`[data-rating="${message.feedback}"]`)?.setAttribute('aria-pressed', 'true');
    }
    return answer;
  }
}
