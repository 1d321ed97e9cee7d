// Answers are Markdown written by a model or quoted from the book: rendered with marked, then
// sanitized with DOMPurify before they touch the page, then "[n]" markers become citation chips.

import DOMPurify from 'dompurify';
import { Marked } from 'marked';

const marked = new Marked({ gfm: true, breaks: false, async: false });

const purify = DOMPurify(window);
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.getAttribute('target') === '_blank') {
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'img', 'video', 'audio'],
  FORBID_ATTR: ['style', 'id', 'name'],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

// Puts the site's baseUrl before a root-relative link the backend gave ("/docs/x" becomes
// "/book/docs/x" on a site served under /book/), unless it already starts with it.
export function siteUrl(url, baseUrl = '/') {
  if (typeof url !== 'string' || !url.startsWith('/') || url.startsWith('//')) return url;
  const base = `/${String(baseUrl || '/').replace(/^\/+|\/+$/g, '')}`;
  if (base === '/') return url;
  if (url === base || url.startsWith(base + '/') || url.startsWith(base + '#')) return url;
  return base + url;
}

// "Chapter › Section" from a citation's heading_path (array or string) and title.
export function headingPath(citation) {
  const parts = Array.isArray(citation?.heading_path)
    ? citation.heading_path.filter((part) => typeof part === 'string' && part)
    : typeof citation?.heading_path === 'string' && citation.heading_path
      ? [citation.heading_path]
      : [];
  if (parts.length === 0 && citation?.title) parts.push(citation.title);
  return parts.join(' \u203a ');
}

// Renders Markdown into `target` (replacing its content). `citations` maps n to the citation
// event's data; `options.baseUrl` is the site's baseUrl; `options.streaming` keeps unknown [n]
// as pending chips (the citation events come after the text).
export function renderMarkdown(target, markdown, citations, options = {}) {
  const html = marked.parse(markdown ?? '');
  const fragment = purify.sanitize(html, SANITIZE);
  for (const link of fragment.querySelectorAll('a[href]')) {
    const href = link.getAttribute('href');
    if (href.startsWith('/')) link.setAttribute('href', siteUrl(href, options.baseUrl));
    else if (/^https?:/i.test(href) && !sameOrigin(href)) {
      link.setAttribute('target', '_blank');
      link.setAttribute('rel', 'noopener noreferrer');
    }
  }
  chipCitations(fragment, citations, options);
  target.replaceChildren(fragment);
}

function sameOrigin(href) {
  try {
    return new URL(href, window.location.href).origin === window.location.origin;
  } catch {
    return false;
  }
}

const MARKER = /\[(\d{1,3})\]/g;

// Replaces "[n]" in text nodes (not inside code, pre or links) with chips.
function chipCitations(root, citations, { baseUrl, streaming } = {}) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let parent = node.parentNode; parent && parent !== root; parent = parent.parentNode) {
        if (['CODE', 'PRE', 'A'].includes(parent.nodeName)) return NodeFilter.FILTER_REJECT;
      }
      MARKER.lastIndex = 0;
      return MARKER.test(node.data) ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP;
    },
  });
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const text = node.data;
    const out = document.createDocumentFragment();
    let from = 0;
    MARKER.lastIndex = 0;
    for (let match; (match = MARKER.exec(text)); ) {
      const n = Number(match[1]);
      const citation = citations?.get(n);
      if (!citation && !streaming) continue; // a number that names no source stays text
      out.append(text.slice(from, match.index));
      out.append(chip(n, citation, baseUrl));
      from = match.index + match[0].length;
    }
    out.append(text.slice(from));
    node.replaceWith(out);
  }
}

function chip(n, citation, baseUrl) {
  if (!citation) {
    const pending = document.createElement('span');
    pending.className = 'bmc-cite bmc-cite-pending';
    pending.textContent = String(n);
    pending.setAttribute('aria-label', `source ${n}`);
    return pending;
  }
  const link = document.createElement('a');
  link.className = 'bmc-cite';
  link.href = siteUrl(citation.url, baseUrl);
  link.textContent = String(n);
  const where = headingPath(citation);
  link.title = where;
  link.setAttribute('aria-label', `Source ${n}: ${where}`);
  link.dataset.citation = String(n);
  return link;
}
