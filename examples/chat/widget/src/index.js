// Entry point of widget.js: reads the settings, loads widget.css, builds the widget once the
// body exists, and exposes window.BookmcpChat = {open, close, toggle, ask, newConversation}.

import { readConfig } from './config.js';
import { ChatWidget } from './widget.js';

const VERSION = '0.1.0';

function loadStylesheet(href) {
  return new Promise((resolve) => {
    const existing = [...document.querySelectorAll('link[rel="stylesheet"]')].find((link) => link.href === href);
    if (existing) {
      resolve();
      return;
    }
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = href;
    link.dataset.bookmcpChat = '';
    link.addEventListener('load', () => resolve());
    link.addEventListener('error', () => resolve()); // unstyled beats invisible
    document.head.append(link);
    setTimeout(resolve, 4000);
  });
}

function whenBodyReady() {
  if (document.body) return Promise.resolve();
  return new Promise((resolve) => document.addEventListener('DOMContentLoaded', () => resolve(), { once: true }));
}

function start() {
  if (window.BookmcpChat?.isWidget) return; // loaded twice: the first one stays
  const config = readConfig();
  const queue = [];
  let widget = null;
  const later = (name) => (...args) => {
    if (widget) return widget[name](...args);
    return new Promise((resolve) => queue.push(() => resolve(widget[name](...args))));
  };
  const api = {
    isWidget: true,
    version: VERSION,
    config,
    open: later('open'),
    close: later('close'),
    toggle: later('toggle'),
    newConversation: later('newConversation'),
    // Asks a question; resolves when its answer is finished with {messageId, text, finishReason}.
    ask: (text) => {
      const run = () => {
        const finished = widget.nextAnswer();
        if (!widget.send(text)) return Promise.resolve(null);
        return finished.then((answer) => ({ messageId: answer.messageId, text: answer.text, finishReason: answer.finishReason }));
      };
      if (widget) return run();
      return new Promise((resolve) => queue.push(() => resolve(run())));
    },
    get isOpen() {
      return widget ? widget.isOpen : false;
    },
  };
  window.BookmcpChat = api;
  Promise.all([whenBodyReady(), loadStylesheet(config.cssUrl)]).then(() => {
    widget = new ChatWidget(config);
    document.documentElement.dataset.bookmcpChat = 'ready';
    let reopen = false;
    try {
      reopen = sessionStorage.getItem('bookmcp-chat:open') === '1';
    } catch {
      // storage blocked
    }
    // Open on the previous page (a link followed from the panel): open again, without taking
    // the focus from the page.
    if (reopen) widget.open({ focus: false });
    for (const run of queue.splice(0)) run();
    window.dispatchEvent(new CustomEvent('bookmcp-chat:ready'));
  });
}

start();
