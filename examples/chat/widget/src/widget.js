// The widget: a floating button that opens a non-modal chat panel (role="dialog"), the
// transcript, the composer, history, notices, and the stream handling (with Stop and
// reconnection after a dropped stream).

import { Answer } from './answer.js';
import { ChatApi, ChatError, randomId } from './api.js';
import { describeShortcut, matchesShortcut, parseShortcut } from './config.js';
import { h, icon } from './dom.js';
import { readSse } from './sse.js';

const MAX_CHARS = 2000;
const MAX_SELECTION = 1000;
const RESUME_ATTEMPTS = 3;
const EXTRACTIVE_NOTE = 'Answers are quoted from the book (no AI model configured).';

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

function plainText(element) {
  return (element.textContent || '').replace(/\s+/g, ' ').trim();
}

async function copyText(text) {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      // permission refused: the old way below
    }
  }
  const area = h('textarea', { 'aria-hidden': 'true', style: 'position:fixed;opacity:0;top:0;left:0' });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('copy refused');
}

export class ChatWidget {
  constructor(config) {
    this.config = config;
    this.api = new ChatApi(config.backend);
    this.shortcut = parseShortcut(config.shortcut);
    this.shortcutText = describeShortcut(this.shortcut);
    this.conversationId = this.api.get('conversation');
    this.renderedConversation = null;
    this.current = null; // the streaming turn: {answer, controller, stoppedByReader}
    this.selection = null;
    this.rateLimitedUntil = 0;
    this.mode = null;
    this.waiters = new Set();
    this.build();
    this.listen();
  }

  // ---- DOM --------------------------------------------------------------------------------------

  build() {
    const ids = {
      panel: 'bmc-panel',
      title: 'bmc-title',
      input: 'bmc-input',
      hint: 'bmc-hint',
    };
    this.launcher = h(
      'button.bmc-launcher',
      {
        type: 'button',
        'aria-expanded': 'false',
        'aria-controls': ids.panel,
        'aria-haspopup': 'dialog',
        'aria-keyshortcuts': this.ariaShortcut(),
        title: `${this.config.title} (${this.shortcutText})`,
      },
      icon('chat'),
      h('span.bmc-launcher-text', { text: this.config.title }),
    );
    this.launcher.addEventListener('click', () => this.toggle());

    this.historyButton = this.iconButton('history', 'Conversation history', () => this.toggleHistory());
    this.historyButton.setAttribute('aria-expanded', 'false');
    this.newButton = this.iconButton('plus', 'New conversation', () => this.newConversation());
    this.closeButton = this.iconButton('close', 'Close chat', () => this.close());
    const header = h(
      'div.bmc-header',
      {},
      h('h2.bmc-title', { id: ids.title, text: this.config.title }),
      h('div.bmc-header-buttons', {}, this.historyButton, this.newButton, this.closeButton),
    );

    this.modeNote = h('p.bmc-note.bmc-mode-note', { hidden: true, text: EXTRACTIVE_NOTE });
    // Always in the page (empty when there is nothing to say), so that a message put into it is
    // announced.
    this.alert = h('div.bmc-alert', { role: 'alert' });

    this.messages = h('div.bmc-messages', { role: 'log', 'aria-live': 'off', 'aria-label': 'Conversation', 'aria-busy': 'false', tabindex: '-1' });
    this.empty = this.buildEmptyState();
    this.messages.append(this.empty);
    this.stickToEnd = true;
    this.messages.addEventListener('scroll', () => {
      const box = this.messages;
      this.stickToEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 48;
    }, { passive: true });
    new MutationObserver(() => this.scrollToEnd()).observe(this.messages, { childList: true, subtree: true, characterData: true });

    this.history = h('div.bmc-history', { hidden: true });

    this.input = h('textarea.bmc-input', {
      id: ids.input,
      rows: '2',
      maxlength: String(MAX_CHARS),
      placeholder: 'Ask a question about the book\u2026',
      'aria-describedby': ids.hint,
      autocomplete: 'off',
    });
    this.sendButton = h('button.bmc-send.bmc-icon-button', { type: 'submit', 'aria-label': 'Send question', title: 'Send' }, icon('send'));
    this.stopButton = h('button.bmc-stop.bmc-button', { type: 'button', hidden: true, title: 'Stop the answer' }, icon('stop'), h('span', { text: 'Stop' }));
    this.stopButton.setAttribute('aria-label', 'Stop answering');
    this.stopButton.addEventListener('click', () => this.stop());
    this.selectionBox = h('div.bmc-selection', { hidden: true });
    this.counter = h('span.bmc-counter', { 'aria-hidden': 'true' });
    this.form = h(
      'form.bmc-form',
      {},
      this.selectionBox,
      h('label.bmc-sr', { for: ids.input, text: 'Your question' }),
      h('div.bmc-compose', {}, this.input, this.stopButton, this.sendButton),
      h(
        'p.bmc-hint',
        { id: ids.hint },
        `Enter to send, Shift+Enter for a new line. ${this.shortcutText} opens or closes the chat.`,
        this.counter,
      ),
    );
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener('input', () => this.updateCounter());

    // One announcement per finished answer (the transcript itself is not live: no per-token
    // chatter for screen readers).
    this.announcer = h('div.bmc-sr.bmc-announcer', { 'aria-live': 'polite', 'aria-atomic': 'true' });

    this.panel = h(
      'section.bmc-panel',
      { id: ids.panel, role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': ids.title, hidden: true },
      header,
      this.modeNote,
      this.alert,
      this.messages,
      this.history,
      this.form,
    );

    // A link followed from the panel on a small screen (where the panel covers the page) leaves
    // the panel closed on the next page; on a wide one the panel stays open beside it.
    this.panel.addEventListener('click', (event) => {
      const link = event.target.closest?.('a[href]');
      if (link && window.matchMedia('(max-width: 600px)').matches) {
        try {
          sessionStorage.removeItem('bookmcp-chat:open');
        } catch {
          // storage blocked
        }
      }
    });

    this.selectionButton = h('button.bmc-ask-selection', { type: 'button', hidden: true }, icon('quote'), h('span', { text: 'Ask about this' }));
    this.selectionButton.addEventListener('mousedown', (event) => event.preventDefault()); // keep the selection
    this.selectionButton.addEventListener('click', () => this.askAboutSelection());

    this.root = h('div.bmc-root', { 'data-bookmcp-chat': '' }, this.launcher, this.panel, this.announcer);
    if (this.config.offsetBottom) this.root.style.setProperty('--bmc-launcher-bottom', this.config.offsetBottom);
    document.body.append(this.root, this.selectionButton);
  }

  ariaShortcut() {
    const parts = [];
    if (this.shortcut.ctrl) parts.push('Control');
    if (this.shortcut.meta) parts.push('Meta');
    if (this.shortcut.alt) parts.push('Alt');
    if (this.shortcut.shift) parts.push('Shift');
    parts.push(this.shortcut.key.length === 1 ? this.shortcut.key.toUpperCase() : this.shortcut.key);
    return parts.join('+');
  }

  iconButton(name, label, onClick) {
    const button = h('button.bmc-icon-button', { type: 'button', 'aria-label': label, title: label }, icon(name));
    button.addEventListener('click', onClick);
    return button;
  }

  buildEmptyState() {
    const box = h('div.bmc-empty', {}, h('p.bmc-empty-lead', { text: 'Ask anything about the book. Answers link to the sections they come from.' }));
    if (this.config.examples.length) {
      const list = h('ul.bmc-examples', { 'aria-label': 'Example questions' });
      for (const example of this.config.examples.slice(0, 6)) {
        const button = h('button.bmc-example', { type: 'button', text: example });
        button.addEventListener('click', () => this.send(example));
        list.append(h('li', {}, button));
      }
      box.append(h('p.bmc-examples-title', { 'aria-hidden': 'true', text: 'Try asking' }), list);
    }
    box.append(h('p.bmc-empty-todos', { text: 'You can also keep study todos here: \u201cremind me to review chapter 2 by Friday\u201d.' }));
    return box;
  }

  updateCounter() {
    const length = this.input.value.length;
    this.counter.textContent = length > MAX_CHARS - 200 ? ` ${length}/${MAX_CHARS}` : '';
  }

  // ---- events -------------------------------------------------------------------------------------

  listen() {
    document.addEventListener('keydown', (event) => {
      if (matchesShortcut(event, this.shortcut)) {
        event.preventDefault();
        event.stopPropagation();
        this.toggle();
        return;
      }
      if (event.key === 'Escape' && this.isOpen && (this.panel.contains(document.activeElement) || document.activeElement === document.body || document.activeElement === this.launcher)) {
        event.preventDefault();
        this.close();
      }
    }, true);
    window.addEventListener('online', () => this.updateConnectivity());
    window.addEventListener('offline', () => this.updateConnectivity());
    if (this.config.selectionButton) {
      let timer = 0;
      document.addEventListener('selectionchange', () => {
        clearTimeout(timer);
        timer = setTimeout(() => this.updateSelectionButton(), 180);
      });
      window.addEventListener('scroll', () => this.updateSelectionButton(), { passive: true });
    }
    // Dark mode: Docusaurus sets html[data-theme]; the CSS follows it. Mirrored as a class too,
    // for pages whose CSS wants it.
    const syncTheme = () => this.root.classList.toggle('bmc-dark', document.documentElement.dataset.theme === 'dark');
    syncTheme();
    new MutationObserver(syncTheme).observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  // ---- open and close ------------------------------------------------------------------------------

  open({ focus = true } = {}) {
    if (!this.isOpen) {
      this.panel.hidden = false;
      this.root.classList.add('bmc-open');
      this.launcher.setAttribute('aria-expanded', 'true');
      try {
        sessionStorage.setItem('bookmcp-chat:open', '1');
      } catch {
        // storage blocked
      }
      this.updateConnectivity();
      this.restore();
    }
    if (focus) this.input.focus();
  }

  close() {
    if (!this.isOpen) return;
    this.panel.hidden = true;
    this.root.classList.remove('bmc-open');
    this.launcher.setAttribute('aria-expanded', 'false');
    try {
      sessionStorage.removeItem('bookmcp-chat:open');
    } catch {
      // storage blocked
    }
    this.launcher.focus();
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  // ---- notices ---------------------------------------------------------------------------------------

  showAlert(text, { countdownUntil } = {}) {
    clearInterval(this.countdownTimer);
    this.alert.replaceChildren(h('span', { text }));
    if (countdownUntil) {
      const countdown = h('span.bmc-countdown', { 'aria-live': 'off' });
      this.alert.append(' ', countdown);
      const tick = () => {
        const left = Math.ceil((countdownUntil - Date.now()) / 1000);
        if (left <= 0) {
          clearInterval(this.countdownTimer);
          this.hideAlert();
          this.updateSendState();
          return;
        }
        countdown.textContent = `You can ask again in ${left} s.`;
      };
      tick();
      this.countdownTimer = setInterval(tick, 1000);
    }
    this.alert.dataset.kind = countdownUntil ? 'rate_limited' : 'error';
  }

  hideAlert() {
    clearInterval(this.countdownTimer);
    this.alert.replaceChildren();
    delete this.alert.dataset.kind;
  }

  updateConnectivity() {
    if (navigator.onLine === false) {
      this.showAlert('You are offline. Questions can be sent again once the connection is back.');
      this.alert.dataset.kind = 'offline';
    } else if (this.alert.dataset.kind === 'offline') {
      this.hideAlert();
    }
    this.updateSendState();
  }

  updateSendState() {
    const limited = Date.now() < this.rateLimitedUntil;
    const busy = Boolean(this.current);
    this.sendButton.disabled = busy || limited || navigator.onLine === false;
    this.sendButton.hidden = busy;
    this.stopButton.hidden = !busy;
    this.messages.setAttribute('aria-busy', busy ? 'true' : 'false');
    this.root.classList.toggle('bmc-busy', busy);
  }

  explain(error) {
    if (!(error instanceof ChatError)) return error?.message || 'Something went wrong.';
    switch (error.kind) {
      case 'offline':
        return 'You are offline. Questions can be sent again once the connection is back.';
      case 'network':
        return `Cannot reach the chat service at ${this.config.backend}. It may be down, or it does not accept requests from this site (CORS).`;
      case 'rate_limited':
        return 'Too many questions right now.';
      case 'unauthorized':
        return 'The chat session could not be renewed. Reload the page to start a new one.';
      default:
        if (error.code === 'message_too_long' || error.status === 413) return `Questions are limited to ${MAX_CHARS} characters.`;
        return error.message || 'The chat service failed.';
    }
  }

  rateLimited(seconds) {
    const wait = Math.max(1, Number(seconds) || 1);
    this.rateLimitedUntil = Date.now() + wait * 1000;
    this.showAlert(`Too many questions right now (try again in ${wait} seconds).`, { countdownUntil: this.rateLimitedUntil });
    this.updateSendState();
  }

  // ---- history ------------------------------------------------------------------------------------------

  async toggleHistory(show = this.history.hidden) {
    this.history.hidden = !show;
    this.messages.hidden = show;
    this.form.hidden = show;
    this.historyButton.setAttribute('aria-expanded', show ? 'true' : 'false');
    if (!show) {
      this.input.focus();
      return;
    }
    const back = h('button.bmc-button.bmc-history-back', { type: 'button' }, icon('back'), h('span', { text: 'Back to the chat' }));
    back.addEventListener('click', () => this.toggleHistory(false));
    const title = h('h3.bmc-history-title', { id: 'bmc-history-title', text: 'Your conversations' });
    const list = h('ul.bmc-history-list', { 'aria-labelledby': 'bmc-history-title', 'aria-busy': 'true' });
    this.history.replaceChildren(back, title, list);
    back.focus();
    if (!this.api.get('session')) {
      list.append(h('li.bmc-history-empty', { text: 'No conversations yet.' }));
      list.setAttribute('aria-busy', 'false');
      return;
    }
    try {
      const body = await this.api.conversations();
      const conversations = Array.isArray(body?.conversations) ? body.conversations : [];
      if (conversations.length === 0) list.append(h('li.bmc-history-empty', { text: 'No conversations yet.' }));
      for (const conversation of conversations) {
        const name = conversation.title || 'Untitled conversation';
        const when = conversation.updated_at || conversation.created_at;
        const open = h(
          'button.bmc-history-open',
          { type: 'button', 'aria-current': conversation.id === this.conversationId ? 'true' : null },
          h('span.bmc-history-name', { text: name }),
          when ? h('time.bmc-history-when', { datetime: String(when), text: formatWhen(when) }) : null,
        );
        open.addEventListener('click', () => this.openConversation(conversation.id));
        const remove = h('button.bmc-icon-button.bmc-history-delete', { type: 'button', 'aria-label': `Delete conversation: ${name}`, title: 'Delete' }, icon('trash'));
        const item = h('li.bmc-history-item', {}, open, remove);
        remove.addEventListener('click', async () => {
          try {
            await this.api.deleteConversation(conversation.id);
            item.remove();
            if (conversation.id === this.conversationId) this.newConversation({ focus: false });
            back.focus();
          } catch (error) {
            this.showAlert(this.explain(error));
          }
        });
        list.append(item);
      }
    } catch (error) {
      list.append(h('li.bmc-history-empty', { text: this.explain(error) }));
    } finally {
      list.setAttribute('aria-busy', 'false');
    }
  }

  async openConversation(id) {
    if (this.current) this.stop();
    this.setConversation(id);
    this.renderedConversation = null;
    await this.toggleHistory(false);
    await this.restore({ force: true });
  }

  setConversation(id) {
    this.conversationId = id || null;
    this.api.set('conversation', this.conversationId);
  }

  newConversation({ focus = true } = {}) {
    if (this.current) this.stop();
    this.setConversation(null);
    this.renderedConversation = null;
    this.api.set('pending', null);
    this.messages.replaceChildren(this.empty);
    this.hideAlert();
    if (!this.history.hidden) this.toggleHistory(false);
    if (focus) this.input.focus();
  }

  // Shows the stored conversation (after a reload, or one picked in the history).
  async restore({ force = false } = {}) {
    const id = this.conversationId;
    if (!id || (!force && this.renderedConversation === id) || this.current) return;
    if (!this.api.get('session')) return;
    this.renderedConversation = id;
    let conversation;
    try {
      conversation = await this.api.conversation(id);
    } catch (error) {
      if (error.status === 404) {
        this.setConversation(null);
        this.messages.replaceChildren(this.empty);
      } else {
        this.renderedConversation = null;
        this.showAlert(this.explain(error));
      }
      return;
    }
    if (this.conversationId !== id || this.current) return;
    this.messages.replaceChildren();
    const messages = Array.isArray(conversation?.messages) ? conversation.messages : [];
    for (const message of messages) {
      if (message.role === 'user') this.messages.append(this.userMessage(message.text));
      else if (message.role === 'assistant') this.messages.append(Answer.fromStored(message, this.answerHooks()).element);
    }
    if (messages.length === 0) this.messages.append(this.empty);
    this.scrollToEnd(true);
    // An answer still being written when the page was left: follow it again.
    const pending = this.api.get('pending');
    if (pending?.conversationId === id && pending.messageId && !messages.some((message) => message.id === pending.messageId)) {
      this.follow(pending.messageId);
    } else if (pending) {
      this.api.set('pending', null);
    }
  }

  // ---- asking -------------------------------------------------------------------------------------------

  submit() {
    const text = this.input.value.trim();
    if (!text || this.current) return;
    if (this.send(text)) {
      this.input.value = '';
      this.updateCounter();
    }
  }

  userMessage(text, selection) {
    return h(
      'article.bmc-msg.bmc-user',
      { 'aria-label': 'Your question' },
      selection ? h('blockquote.bmc-quote', { text: selection }) : null,
      h('p', { text }),
    );
  }

  answerHooks() {
    return {
      baseUrl: this.config.baseUrl,
      onTodo: async (todoId, action) => {
        const body = await this.api.todo(todoId, action);
        return body?.todo ?? null;
      },
      onFeedback: (messageId, rating, reason) => this.api.feedback(messageId, rating, reason),
      onCopy: (text) => copyText(text),
      onRender: () => this.scrollToEnd(),
      onMeta: (data, answer) => this.onMeta(data, answer),
      onFinish: (answer) => this.onFinish(answer),
    };
  }

  onMeta(data) {
    if (data.conversation_id) {
      this.setConversation(data.conversation_id);
      this.renderedConversation = data.conversation_id;
    }
    this.mode = data.mode;
    this.modeNote.hidden = data.mode !== 'extractive';
    if (data.message_id) this.api.set('pending', { messageId: data.message_id, conversationId: data.conversation_id });
  }

  onFinish(answer) {
    this.api.set('pending', null);
    let text;
    if (answer.finishReason === 'cancelled') text = 'The answer was stopped.';
    else if (answer.finishReason === 'error') text = `The answer failed: ${answer.error?.message || 'error'}`;
    else text = `Answer: ${plainText(answer.body).slice(0, 1500)}`;
    this.announce(text);
  }

  announce(text) {
    // Cleared first so that the same text twice is still announced.
    this.announcer.textContent = '';
    setTimeout(() => {
      this.announcer.textContent = text;
    }, 50);
  }

  // The transcript follows new content while the reader is at its end; scrolling up stops that
  // until they scroll back down (or send a question).
  scrollToEnd(force = false) {
    if (force) this.stickToEnd = true;
    if (this.stickToEnd) this.messages.scrollTop = this.messages.scrollHeight;
  }

  // Sends a question; false when it cannot be sent now (the reason is shown).
  send(text) {
    text = String(text ?? '').trim();
    if (!text || this.current) return false;
    if (!this.isOpen) this.open();
    if (text.length > MAX_CHARS) {
      this.showAlert(`Questions are limited to ${MAX_CHARS} characters.`);
      return false;
    }
    if (navigator.onLine === false) {
      this.updateConnectivity();
      return false;
    }
    if (Date.now() < this.rateLimitedUntil) return false;
    if (!this.history.hidden) this.toggleHistory(false);
    if (this.alert.dataset.kind !== 'rate_limited') this.hideAlert();
    this.empty.remove();
    const selection = this.selection;
    this.clearSelectionContext();
    this.messages.append(this.userMessage(text, selection));
    const answer = new Answer(this.answerHooks());
    this.messages.append(answer.element);
    this.scrollToEnd(true);
    const context = {
      url: window.location.href.split('#')[0],
      title: document.title,
      anchor: decodeURIComponent(window.location.hash.replace(/^#/, '')),
    };
    if (selection) context.selection = selection;
    const request = {
      conversation_id: this.conversationId,
      message: { id: randomId('um_'), text },
      context,
      time_zone: timeZone(),
    };
    this.run(answer, (signal) => this.api.chat(request, signal));
    return true;
  }

  // Follows an answer that is already being written (after a reload).
  follow(messageId) {
    if (this.current) return;
    this.empty.remove();
    const answer = new Answer(this.answerHooks());
    answer.setMessageId(messageId);
    this.messages.append(answer.element);
    this.run(answer, (signal) => this.api.events(messageId, null, signal));
  }

  // Reads an answer's stream to its end; reconnects with Last-Event-ID when it drops.
  async run(answer, open) {
    const turn = { answer, controller: new AbortController(), stoppedByReader: false };
    this.current = turn;
    this.updateSendState();
    let attempt = 0;
    let starting = true;
    try {
      for (;;) {
        try {
          const response = await (starting ? open(turn.controller.signal) : this.api.events(answer.messageId, answer.lastEventId, turn.controller.signal));
          starting = false;
          await readSse(response, (event) => {
            if (!answer.handle(event)) return;
            attempt = 0; // progress: the reconnection budget is full again
            // For the page (analytics, tests): every event of the answer, as it is handled.
            window.dispatchEvent(new CustomEvent('bookmcp-chat:event', { detail: { event: event.event, id: event.id, data: event.data } }));
          });
        } catch (error) {
          if (turn.stoppedByReader || error?.name === 'AbortError') break;
          if (error instanceof ChatError) {
            // Refused before the stream began: nothing to resume.
            answer.fail({ code: error.kind === 'rate_limited' ? 'rate_limited' : error.code || error.kind, message: this.explain(error), retry_after: error.retryAfter });
            if (error.kind === 'network' || error.kind === 'offline') this.showAlert(this.explain(error));
            break;
          }
          // The body failed while being read (the connection dropped): resume below.
        }
        if (answer.finished || turn.stoppedByReader) break;
        if (!answer.messageId || attempt >= RESUME_ATTEMPTS) {
          answer.fail({ code: 'stream_lost', message: 'The connection was lost before the answer was complete.' });
          break;
        }
        attempt += 1;
        starting = false;
        await sleep(400 * attempt);
      }
    } finally {
      if (turn.stoppedByReader && !answer.finished) answer.finish('cancelled');
      if (answer.finished && answer.error?.code === 'rate_limited') this.rateLimited(answer.error.retry_after ?? 5);
      this.current = null;
      this.updateSendState();
      for (const waiter of this.waiters) waiter(answer);
      this.waiters.clear();
    }
  }

  // Stop: the reader's fetch is aborted and the backend is told, so that it stops the model and
  // the tool calls too (closing the stream alone also does, after a grace period).
  stop() {
    const turn = this.current;
    if (!turn) return;
    turn.stoppedByReader = true;
    const messageId = turn.answer.messageId;
    turn.controller.abort();
    if (messageId) this.api.cancel(messageId).catch(() => {});
    if (this.panel.contains(document.activeElement) || document.activeElement === document.body) this.input.focus();
  }

  // Resolves with the next finished answer (for BookmcpChat.ask).
  nextAnswer() {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  // ---- "Ask about this" ------------------------------------------------------------------------------

  selectedText() {
    const selection = window.getSelection();
    if (!selection || selection.isCollapsed || selection.rangeCount === 0) return null;
    const range = selection.getRangeAt(0);
    const node = range.commonAncestorContainer;
    const element = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
    if (!element || this.root.contains(element) || element.closest('input, textarea, [contenteditable="true"], .bmc-ask-selection')) return null;
    const text = selection.toString().replace(/\s+/g, ' ').trim();
    if (text.length < 3) return null;
    return { text: text.slice(0, MAX_SELECTION), range };
  }

  updateSelectionButton() {
    const selected = this.selectedText();
    if (!selected) {
      this.selectionButton.hidden = true;
      return;
    }
    const rect = selected.range.getBoundingClientRect();
    if (!rect || (rect.width === 0 && rect.height === 0)) {
      this.selectionButton.hidden = true;
      return;
    }
    this.selectionButton.hidden = false;
    const width = this.selectionButton.offsetWidth || 140;
    const left = Math.min(Math.max(8, rect.left + rect.width / 2 - width / 2), window.innerWidth - width - 8);
    const top = rect.bottom + 8 + 40 > window.innerHeight ? rect.top - 44 : rect.bottom + 8;
    this.selectionButton.style.left = `${Math.round(left + window.scrollX)}px`;
    this.selectionButton.style.top = `${Math.round(top + window.scrollY)}px`;
  }

  askAboutSelection() {
    const selected = this.selectedText();
    this.selectionButton.hidden = true;
    if (!selected) return;
    this.setSelectionContext(selected.text);
    this.open();
  }

  setSelectionContext(text) {
    this.selection = text;
    const remove = h('button.bmc-icon-button', { type: 'button', 'aria-label': 'Remove the quoted text', title: 'Remove' }, icon('close'));
    remove.addEventListener('click', () => {
      this.clearSelectionContext();
      this.input.focus();
    });
    this.selectionBox.replaceChildren(h('span.bmc-selection-label', { text: 'Asking about: ' }), h('q.bmc-selection-text', { text: text.length > 160 ? `${text.slice(0, 160)}\u2026` : text }), remove);
    this.selectionBox.hidden = false;
  }

  clearSelectionContext() {
    this.selection = null;
    this.selectionBox.hidden = true;
    this.selectionBox.replaceChildren();
  }
}

function formatWhen(value) {
  const date = typeof value === 'number' ? new Date(value) : new Date(String(value));
  if (Number.isNaN(date.getTime())) return '';
  try {
    return date.toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  } catch {
    return date.toISOString();
  }
}
