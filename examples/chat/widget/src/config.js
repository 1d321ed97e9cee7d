// The widget's settings, from (first wins) a config object set before the script runs
// (window.BookmcpChat = {backend, examples, ...}), the script tag's data-* attributes, and the
// defaults: the backend is the origin the script came from.

export const DEFAULT_SHORTCUT = 'ctrl+shift+l';

function findScript() {
  if (document.currentScript) return document.currentScript;
  const scripts = document.querySelectorAll('script[src]');
  for (let i = scripts.length - 1; i >= 0; --i) {
    if (/\/widget\.js(\?|#|$)/.test(scripts[i].getAttribute('src'))) return scripts[i];
  }
  return null;
}

function parseExamples(value) {
  if (Array.isArray(value)) return value.filter((item) => typeof item === 'string' && item.trim());
  if (typeof value !== 'string' || !value.trim()) return [];
  try {
    return parseExamples(JSON.parse(value));
  } catch {
    return [];
  }
}

export function readConfig() {
  const script = findScript();
  const preset = typeof window.BookmcpChat === 'object' && window.BookmcpChat && !window.BookmcpChat.isWidget ? window.BookmcpChat : {};
  const data = script?.dataset ?? {};
  let scriptUrl = null;
  try {
    scriptUrl = script?.src ? new URL(script.src, window.location.href) : null;
  } catch {
    scriptUrl = null;
  }
  const backend = String(preset.backend || data.backend || scriptUrl?.origin || window.location.origin).replace(/\/+$/, '');
  return {
    backend,
    examples: parseExamples(preset.examples ?? data.examples),
    baseUrl: preset.baseUrl || data.baseUrl || '/',
    shortcut: String(preset.shortcut || data.shortcut || DEFAULT_SHORTCUT),
    title: preset.title || data.title || 'Ask the book',
    cssUrl: preset.cssUrl || data.css || (scriptUrl ? new URL('widget.css', scriptUrl).href : `${backend}/widget.css`),
    offsetBottom: preset.offsetBottom || data.offsetBottom || '',
    selectionButton: (preset.selectionButton ?? data.selectionButton) !== false && data.selectionButton !== 'false',
  };
}

// "ctrl+shift+l", "mod+k" (mod: Cmd on Apple systems, Ctrl elsewhere), "alt+/".
export function parseShortcut(text) {
  const parts = String(text).toLowerCase().split('+').map((part) => part.trim()).filter(Boolean);
  const isApple = /mac|iphone|ipad/i.test(navigator.platform || navigator.userAgent || '');
  const shortcut = { ctrl: false, meta: false, alt: false, shift: false, key: '' };
  for (const part of parts) {
    if (part === 'ctrl' || part === 'control') shortcut.ctrl = true;
    else if (part === 'cmd' || part === 'meta' || part === 'command') shortcut.meta = true;
    else if (part === 'mod') shortcut[isApple ? 'meta' : 'ctrl'] = true;
    else if (part === 'alt' || part === 'option') shortcut.alt = true;
    else if (part === 'shift') shortcut.shift = true;
    else shortcut.key = part;
  }
  return shortcut;
}

export function matchesShortcut(event, shortcut) {
  if (!shortcut.key) return false;
  if (event.ctrlKey !== shortcut.ctrl || event.metaKey !== shortcut.meta) return false;
  if (event.altKey !== shortcut.alt || event.shiftKey !== shortcut.shift) return false;
  const key = (event.key || '').toLowerCase();
  if (key === shortcut.key) return true;
  // With Alt or Shift the produced character changes ("L", "¬"): compare the physical key.
  const code = event.code || '';
  if (/^[a-z]$/.test(shortcut.key)) return code === `Key${shortcut.key.toUpperCase()}`;
  if (/^[0-9]$/.test(shortcut.key)) return code === `Digit${shortcut.key}`;
  if (shortcut.key === '/') return code === 'Slash';
  return false;
}

// How the shortcut reads to people: "Ctrl+Shift+L".
export function describeShortcut(shortcut) {
  const names = [];
  if (shortcut.ctrl) names.push('Ctrl');
  if (shortcut.meta) names.push('\u2318');
  if (shortcut.alt) names.push('Alt');
  if (shortcut.shift) names.push('Shift');
  names.push(shortcut.key.length === 1 ? shortcut.key.toUpperCase() : shortcut.key);
  return names.join('+');
}
