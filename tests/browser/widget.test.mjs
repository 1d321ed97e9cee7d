// The chat widget in Chromium against a scripted stand-in of bookmcp-chat (fake-backend.mjs):
// the cases the real backend cannot be made to produce on cue (a dropped stream and its
// resumption with Last-Event-ID, 429 with Retry-After, error events, an expired token, a slow
// answer to stop), and the widget's own behaviour (keyboard, selection, dark mode, mobile
// layout, offline, CORS refusal, accessibility). The page is served from another origin than the
// backend, as on a real site. Needs only Chromium, the built widget and this folder's packages.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startFakeBackend } from './fake-backend.mjs';
import { SITE_BUILD, TIMEOUT_MS, axeViolations, freePort, launchBrowser, missingPrerequisites, siteBaseUrl, startStaticServer, watchPage } from './helpers.mjs';

const missing = missingPrerequisites({ needSite: false });
const siteBuilt = existsSync(path.join(SITE_BUILD, 'index.html'));
// The backend URL the sample site is built with (its docusaurus.config.js default), replaced
// when served.
const BUILT_BACKEND_URL = 'http://127.0.0.1:8788';

// Waits until `condition()` (about the fake backend's state) holds; the bound is a hang guard.
async function until(condition, what, guardMs = 30_000) {
  const deadline = Date.now() + guardMs;
  while (!condition()) {
    if (Date.now() >= deadline) throw new Error(`no ${what} within ${guardMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function pageHtml({ backend, script = backend, examples = ['How do I tune a PID controller?', 'What is odometry?'] }) {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Kinematics and Control | Test book</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<main>
<h1>Kinematics and Control</h1>
<p id="para">Forward kinematics computes where the end of an arm is from its joint angles.</p>
<h2 id="section-two">PID control</h2>
<p>A PID controller drives a motor toward a target by adding three terms.</p>
</main>
<script src="${script}/widget.js" data-backend="${backend}" data-base-url="/book/" data-examples='${JSON.stringify(examples)}' defer></script>
</body>
</html>`;
}

describe('chat widget (scripted backend)', { skip: missing ? `cannot run: missing ${missing}` : false, timeout: TIMEOUT_MS * 3 }, () => {
  let browser;
  let site;
  let fake;
  let otherSite;
  let deadPort;

  before(async () => {
    const sitePort = await freePort();
    const origin = `http://127.0.0.1:${sitePort}`;
    fake = await startFakeBackend({ allowedOrigin: origin });
    deadPort = await freePort();
    site = await startStaticServer({
      port: sitePort,
      root: siteBuilt ? SITE_BUILD : undefined,
      mount: siteBuilt ? siteBaseUrl() : '/',
      rewrite: (text) => text.split(BUILT_BACKEND_URL).join(fake.base),
      pages: {
        '/book/docs/page': () => pageHtml({ backend: fake.base }),
        '/book/docs/dead': () => pageHtml({ backend: `http://127.0.0.1:${deadPort}`, script: fake.base }),
      },
    });
    otherSite = await startStaticServer({ pages: { '/page': () => pageHtml({ backend: fake.base }) } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await site?.stop();
    await otherSite?.stop();
    await fake?.stop();
  });

  async function openPage({ path = '/book/docs/page#section-two', viewport, context: options = {} } = {}) {
    const context = await browser.newContext({ timezoneId: 'Europe/Berlin', viewport: viewport ?? { width: 1280, height: 900 }, ...options });
    const page = await context.newPage();
    const log = watchPage(page);
    await page.addInitScript(() => {
      window.__events = [];
      window.addEventListener('bookmcp-chat:event', (event) => window.__events.push(event.detail));
    });
    await page.goto(`${site.origin}${path}`);
    await page.waitForFunction(() => document.documentElement.dataset.bookmcpChat === 'ready');
    return { context, page, log };
  }

  async function lastAnswerDone(page) {
    await page.waitForFunction(() => {
      const answers = document.querySelectorAll('.bmc-assistant');
      const last = answers[answers.length - 1];
      return last && last.dataset.state !== 'streaming';
    }, null, { timeout: 30_000 });
    return page.locator('.bmc-assistant').last();
  }

  it('streams an answer with citation chips, sources, a tool card and one announcement', async () => {
    const { context, page, log } = await openPage();
    try {
      const launcher = page.getByRole('button', { name: 'Ask the book' });
      await assert.doesNotReject(launcher.waitFor());
      assert.equal(await launcher.getAttribute('aria-expanded'), 'false');
      await launcher.click();
      const dialog = page.getByRole('dialog', { name: 'Ask the book' });
      await dialog.waitFor();
      assert.equal(await launcher.getAttribute('aria-expanded'), 'true');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'bmc-input', 'focus moves to the input');

      // Count what is rendered while the answer streams, and what the live region says. The
      // backend sends each next token only once the page shows the text sent so far (the widget
      // renders once per animation frame, so tokens sent while the page is slow to paint would
      // merge into one render): the tokens must show one by one, whatever the machine's speed.
      const gateFailures = [];
      fake.state.tokenGate = async (sent) => {
        // As rendered: the markdown's whitespace and the brackets of [n] (chips) are not text.
        const expected = sent.replace(/[\s[\]]/g, '');
        try {
          await page.waitForFunction((want) => {
            const answer = [...document.querySelectorAll('.bmc-assistant')].at(-1);
            return answer?.dataset.state === 'streaming' && answer.querySelector('.bmc-body').textContent.replace(/\s/g, '').includes(want);
          }, expected, { timeout: 30_000 });
        } catch (error) {
          gateFailures.push(`${JSON.stringify(sent)} never shown while streaming: ${error.message}`);
        }
      };
      await page.evaluate(() => {
        window.__renders = new Set();
        window.__announcements = [];
        const log = document.querySelector('.bmc-messages');
        new MutationObserver(() => {
          const answer = log.querySelector('.bmc-assistant:last-of-type');
          if (answer?.dataset.state === 'streaming') window.__renders.add(answer.querySelector('.bmc-body').textContent.length);
        }).observe(log, { subtree: true, childList: true, characterData: true });
        const live = document.querySelector('[aria-live="polite"]');
        new MutationObserver(() => {
          if (live.textContent) window.__announcements.push(live.textContent);
        }).observe(live, { childList: true, characterData: true, subtree: true });
      });
      await page.getByRole('button', { name: 'How do I tune a PID controller?' }).click();
      const answer = await lastAnswerDone(page);
      fake.state.tokenGate = null;
      assert.deepEqual(gateFailures, []);
      assert.equal(await answer.getAttribute('data-state'), 'done', log.join('\n'));
      const text = await answer.locator('.bmc-body').innerText();
      assert.match(text, /Start with only P, raise it until the joint oscillates, then halve it/);
      assert.match(text, /Then add D and a little I/);

      const tokens = await page.evaluate(() => window.__events.filter((e) => e.event === 'token').length);
      assert.ok(tokens > 1, `token events: ${tokens}`);
      const renders = await page.evaluate(() => [...window.__renders].filter((n) => n > 0).length);
      assert.ok(renders > 1, `partial renders while streaming: ${renders}`);

      // [1] and [2] became chips linking to the section, with the site's baseUrl (/book/).
      const chips = answer.locator('a.bmc-cite');
      assert.equal(await chips.count(), 2);
      assert.equal(await chips.nth(0).getAttribute('href'), '/book/docs/motion/kinematics#tuning');
      assert.equal(await chips.nth(0).getAttribute('aria-label'), 'Source 1: Kinematics and Control \u203a PID control \u203a Tuning');
      const sources = answer.getByRole('list', { name: 'Sources' });
      assert.match(await sources.innerText(), /Kinematics and Control › PID control › Tuning/);
      assert.equal(await sources.locator('a').first().getAttribute('href'), '/book/docs/motion/kinematics#tuning');

      const tool = answer.locator('.bmc-tool[data-tool="search_book"]');
      assert.match(await tool.innerText(), /Searched the book for “How do I tune a PID controller\?” — 2 sections found/);

      // One polite announcement, after the answer (not one per token).
      await page.waitForFunction(() => window.__announcements.length > 0);
      await page.waitForTimeout(200);
      const announcements = await page.evaluate(() => window.__announcements);
      assert.equal(announcements.length, 1, JSON.stringify(announcements));
      assert.match(announcements[0], /^Answer: Start with only P/);
      assert.equal(await page.locator('[aria-live="polite"]').count(), 1);
      assert.equal(await page.locator('.bmc-messages').getAttribute('aria-busy'), 'false');

      // What the widget sent: the page's context and the reader's time zone.
      const chat = fake.state.requests.filter((r) => r.path === '/api/chat').at(-1);
      assert.equal(chat.body.message.text, 'How do I tune a PID controller?');
      assert.equal(chat.body.context.url, `${site.origin}/book/docs/page`);
      assert.equal(chat.body.context.title, 'Kinematics and Control | Test book');
      assert.equal(chat.body.context.anchor, 'section-two');
      assert.equal(chat.body.time_zone, 'Europe/Berlin');
      assert.equal(chat.body.conversation_id, null);
      assert.match(chat.headers.authorization, /^Bearer at_/);

      // A second question continues the conversation.
      await page.locator('#bmc-input').fill('and the derivative?');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelectorAll('.bmc-assistant').length === 2);
      await lastAnswerDone(page);
      const second = fake.state.requests.filter((r) => r.path === '/api/chat').at(-1);
      assert.match(second.body.conversation_id, /^c_/);
      const stored = await page.evaluate(() => {
        const key = Object.keys(localStorage).find((k) => k.startsWith('bookmcp-chat:') && k.endsWith(':conversation'));
        return key ? JSON.parse(localStorage.getItem(key)) : null;
      });
      assert.equal(second.body.conversation_id, stored, 'the conversation id is kept in localStorage');

      // Reload: the conversation comes back (fetched by id), with its chips.
      await page.reload();
      await page.waitForFunction(() => document.documentElement.dataset.bookmcpChat === 'ready');
      await page.evaluate(() => window.BookmcpChat.open());
      await page.waitForFunction(() => document.querySelectorAll('.bmc-assistant').length === 2);
      assert.equal(await page.locator('.bmc-user').first().innerText(), 'How do I tune a PID controller?');
      assert.equal(await page.locator('.bmc-assistant').first().locator('a.bmc-cite').count(), 2);

      // History lists it; a new conversation empties the panel.
      await page.getByRole('button', { name: 'Conversation history' }).click();
      const item = page.locator('.bmc-history-open').first();
      await item.waitFor();
      assert.match(await item.innerText(), /How do I tune a PID controller\?/);
      await page.getByRole('button', { name: 'Back to the chat' }).click();
      await page.getByRole('button', { name: 'New conversation' }).click();
      assert.equal(await page.locator('.bmc-assistant').count(), 0);
      assert.equal(await page.locator('.bmc-empty').count(), 1);
      await page.getByRole('button', { name: 'Conversation history' }).click();
      await page.locator('.bmc-history-open').first().click();
      await page.waitForFunction(() => document.querySelectorAll('.bmc-assistant').length === 2);
    } finally {
      fake.state.tokenGate = null;
      await context.close();
    }
  });

  it('the Docusaurus site gets the widget from the plugin; a chip opens the cited section', { skip: siteBuilt ? false : 'the sample site is not built (tests/browser/install.sh)' }, async () => {
    const base = siteBaseUrl();
    const { context, page, log } = await openPage({ path: `${base}docs/motion/kinematics` });
    try {
      assert.equal(await page.locator('script#bookmcp-chat-widget').count(), 1, log.join('\n'));
      assert.equal(await page.locator('script#bookmcp-chat-widget').getAttribute('data-base-url'), base);
      await page.getByRole('button', { name: 'Ask the book' }).click();
      assert.equal(await page.getByRole('button', { name: 'Why does an IMU drift?' }).count(), 1, 'the examples of the plugin options');
      const result = await page.evaluate(() => window.BookmcpChat.ask('How do I tune a PID controller?'));
      assert.equal(result.finishReason, 'stop');
      const chip = page.locator('.bmc-assistant a.bmc-cite').first();
      assert.equal(await chip.getAttribute('href'), `${base}docs/motion/kinematics#tuning`);
      await chip.click();
      await page.waitForURL((url) => url.hash === '#tuning');
      assert.equal(new URL(page.url()).pathname, `${base}docs/motion/kinematics`);
      assert.equal(await page.evaluate(() => document.getElementById('tuning')?.tagName), 'H3');
      // A client-side route change keeps one widget.
      await page.locator('.navbar a[href$="docs/"]').first().click();
      await page.waitForURL((url) => url.pathname === `${base}docs/`);
      assert.equal(await page.locator('.bmc-root').count(), 1);
      assert.equal(await page.locator('script#bookmcp-chat-widget').count(), 1);
    } finally {
      await context.close();
    }
  });

  it('resumes a dropped stream with Last-Event-ID, without repeating tokens', async () => {
    const { context, page, log } = await openPage();
    try {
      const result = await page.evaluate(() => window.BookmcpChat.ask('drop the line please'));
      assert.equal(result.finishReason, 'stop', log.join('\n'));
      assert.equal(result.text, 'Start with only P, raise it until the joint oscillates, then halve it [1].\n\nThen add D and a little I [2].');
      const resume = fake.state.requests.filter((r) => r.path.endsWith('/events')).at(-1);
      assert.ok(resume, 'the widget reconnected');
      // The id of the last event the widget had read before the connection was cut.
      assert.match(resume.lastEventId, new RegExp(`^${result.messageId}:[3-5]$`));
      const answer = page.locator('.bmc-assistant').last();
      assert.equal(await answer.locator('a.bmc-cite').count(), 2);
    } finally {
      await context.close();
    }
  });

  it('Stop aborts the stream and tells the backend; Tab reaches Stop', async () => {
    const { context, page } = await openPage();
    try {
      await page.keyboard.press('Control+Shift+L');
      await page.locator('#bmc-input').waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'bmc-input');
      await page.keyboard.type('a slow answer please');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => window.__events.filter((e) => e.event === 'token').length >= 3);
      assert.equal(await page.locator('.bmc-messages').getAttribute('aria-busy'), 'true');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Stop answering');
      await page.keyboard.press('Enter');
      const answer = await lastAnswerDone(page);
      assert.equal(await answer.getAttribute('data-state'), 'cancelled');
      assert.match(await answer.locator('.bmc-msg-status').innerText(), /Stopped/);
      const messageId = await answer.getAttribute('data-message-id');
      await until(() => fake.state.cancels.includes(messageId), 'POST /api/chat/{id}/cancel');
      assert.equal(await page.locator('.bmc-stop').isHidden(), true);
      assert.equal(await page.locator('.bmc-send').isVisible(), true);
      // Escape closes the panel and gives the focus back to the launcher.
      await page.locator('#bmc-input').focus();
      await page.keyboard.press('Escape');
      assert.equal(await page.locator('.bmc-panel').isHidden(), true);
      assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('bmc-launcher')), true);
    } finally {
      await context.close();
    }
  });

  it('todo cards: Done calls POST /api/todos/{id}/complete and updates the card', async () => {
    const { context, page } = await openPage();
    try {
      await page.evaluate(() => window.BookmcpChat.ask('remind me to redo the kinematics exercises by Friday'));
      const card = page.locator('.bmc-todo').last();
      assert.match(await card.innerText(), /redo the kinematics exercises/);
      assert.equal(await card.getAttribute('data-status'), 'open');
      await card.getByRole('button', { name: 'Mark done: redo the kinematics exercises' }).click();
      await page.waitForFunction(() => document.querySelector('.bmc-todo:last-of-type')?.dataset.status === 'done');
      assert.ok(fake.state.requests.some((r) => r.method === 'POST' && r.path === '/api/todos/7/complete'));
      assert.equal(fake.state.requests.filter((r) => r.path === '/api/chat').at(-1).body.message.text, 'remind me to redo the kinematics exercises by Friday');
      assert.equal(await card.getByRole('button').innerText(), 'Reopen');
    } finally {
      await context.close();
    }
  });

  it('feedback, copy, an expired token, error events and 429', async () => {
    const { context, page } = await openPage({ context: { permissions: ['clipboard-read', 'clipboard-write'] } });
    try {
      const first = await page.evaluate(() => window.BookmcpChat.ask('How do I tune a PID controller?'));
      const answer = page.locator('.bmc-assistant').last();
      await answer.getByRole('button', { name: 'Good answer' }).click();
      await page.waitForFunction(() => document.querySelector('.bmc-feedback-thanks')?.textContent.includes('Thanks'));
      assert.deepEqual(fake.state.feedback.at(-1), { messageId: first.messageId, rating: 'up' });
      await answer.getByRole('button', { name: 'Bad answer' }).click();
      assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('bmc-reason-input')), true);
      await page.keyboard.type('too short');
      await page.keyboard.press('Enter');
      await until(() => fake.state.feedback.at(-1)?.reason === 'too short', 'feedback with the reason');
      assert.deepEqual(fake.state.feedback.at(-1), { messageId: first.messageId, rating: 'down', reason: 'too short' });

      await answer.getByRole('button', { name: 'Copy answer' }).click();
      await answer.getByRole('button', { name: 'Copied' }).waitFor();
      assert.match(await page.evaluate(() => navigator.clipboard.readText()), /^Start with only P/);

      // Every token refused once: the widget refreshes its session and goes on.
      fake.state.revoked = true;
      const again = await page.evaluate(() => window.BookmcpChat.ask('once more'));
      assert.equal(again.finishReason, 'stop');
      assert.ok(fake.state.requests.some((r) => r.path === '/api/session/refresh'));

      const failed = await page.evaluate(() => window.BookmcpChat.ask('make it fail'));
      assert.equal(failed.finishReason, 'error');
      assert.match(await page.locator('.bmc-assistant').last().locator('.bmc-msg-status').innerText(), /The language model is not reachable/);

      const limited = await page.evaluate(() => window.BookmcpChat.ask('over the limit'));
      assert.equal(limited.finishReason, 'error');
      const alert = page.getByRole('alert').filter({ hasText: 'Too many questions' });
      await alert.waitFor();
      assert.match(await alert.innerText(), /try again in 7 seconds/);
      assert.match(await alert.innerText(), /You can ask again in [1-7] s/);
      assert.equal(await page.locator('.bmc-send').isDisabled(), true);
    } finally {
      await context.close();
    }
  });

  it('"Ask about this" sends the selected text as context', async () => {
    const { context, page } = await openPage();
    try {
      await page.evaluate(() => {
        const range = document.createRange();
        range.selectNodeContents(document.getElementById('para'));
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      });
      const ask = page.getByRole('button', { name: 'Ask about this' });
      await ask.waitFor();
      await ask.click();
      await page.getByRole('dialog').waitFor();
      assert.match(await page.locator('.bmc-selection').innerText(), /Forward kinematics computes/);
      await page.locator('#bmc-input').fill('explain this');
      await page.keyboard.press('Enter');
      await lastAnswerDone(page);
      const chat = fake.state.requests.filter((r) => r.path === '/api/chat').at(-1);
      assert.equal(chat.body.context.selection, 'Forward kinematics computes where the end of an arm is from its joint angles.');
      assert.match(await page.locator('.bmc-user').last().innerText(), /Forward kinematics computes/);
    } finally {
      await context.close();
    }
  });

  it('dark mode, the mobile layout and accessibility (axe-core)', async () => {
    const { context, page } = await openPage();
    try {
      await page.evaluate(() => window.BookmcpChat.ask('How do I tune a PID controller?'));
      await page.evaluate(() => window.BookmcpChat.ask('remind me to redo the kinematics exercises by Friday'));
      const light = await page.locator('.bmc-panel').evaluate((panel) => getComputedStyle(panel).backgroundColor);
      let violations = await axeViolations(page);
      assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
      await page.evaluate(() => document.documentElement.setAttribute('data-theme', 'dark'));
      const dark = await page.locator('.bmc-panel').evaluate((panel) => getComputedStyle(panel).backgroundColor);
      assert.notEqual(light, dark);
      assert.equal(dark, 'rgb(30, 31, 34)');
      violations = await axeViolations(page);
      assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
      // A visible focus ring on the focused button.
      await page.locator('.bmc-header .bmc-icon-button').first().focus();
      await page.keyboard.press('Shift+Tab');
      await page.keyboard.press('Tab');
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.equal(outline, 'solid');
    } finally {
      await context.close();
    }
    const mobile = await openPage({ viewport: { width: 390, height: 844 } });
    try {
      await mobile.page.getByRole('button', { name: 'Ask the book' }).click();
      const box = await mobile.page.locator('.bmc-panel').boundingBox();
      assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 390, 844]);
      await mobile.page.keyboard.press('Escape');
      assert.equal(await mobile.page.locator('.bmc-launcher').isVisible(), true);
    } finally {
      await mobile.context.close();
    }
  });

  it('offline, an unreachable backend and a site the backend does not allow (CORS)', async () => {
    const { context, page } = await openPage();
    try {
      await page.getByRole('button', { name: 'Ask the book' }).click();
      await context.setOffline(true);
      await page.getByRole('alert').filter({ hasText: 'You are offline' }).waitFor();
      assert.equal(await page.locator('.bmc-send').isDisabled(), true);
      await context.setOffline(false);
      await page.waitForFunction(() => !document.querySelector('.bmc-alert').textContent);
      assert.equal(await page.locator('.bmc-send').isDisabled(), false);
    } finally {
      await context.close();
    }
    const dead = await openPage({ path: '/book/docs/dead' });
    try {
      const result = await dead.page.evaluate(() => window.BookmcpChat.ask('anyone there?'));
      assert.equal(result.finishReason, 'error');
      await dead.page.getByRole('alert').filter({ hasText: 'Cannot reach the chat service' }).waitFor();
    } finally {
      await dead.context.close();
    }
    const context2 = await browser.newContext();
    try {
      const page2 = await context2.newPage();
      await page2.goto(`${otherSite.origin}/page`);
      await page2.waitForFunction(() => document.documentElement.dataset.bookmcpChat === 'ready');
      const result = await page2.evaluate(() => window.BookmcpChat.ask('hello'));
      assert.equal(result.finishReason, 'error');
      assert.match(await page2.getByRole('alert').innerText(), /does not accept requests from this site \(CORS\)/);
    } finally {
      await context2.close();
    }
  });
});
