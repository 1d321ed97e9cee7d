// The plugin's options, validated the way Docusaurus does it (validateOptions with
// normalizePluginOptions from @docusaurus/utils-validation), and what the plugin hands the site.
'use strict';

const assert = require('node:assert/strict');
const path = require('node:path');
const { test } = require('node:test');

const { normalizePluginOptions } = require('@docusaurus/utils-validation');

const plugin = require('..');

const validate = (options) => plugin.validateOptions({ validate: normalizePluginOptions, options });

test('backendUrl is required and must be an http(s) URL', () => {
  assert.throws(() => validate({}), /"backendUrl" is required/);
  assert.throws(() => validate({ backendUrl: 'chat.example.org' }), /"backendUrl" must be a valid uri/);
  assert.throws(() => validate({ backendUrl: 'ftp://chat.example.org' }), /"backendUrl" must be a valid uri/);
  assert.equal(validate({ backendUrl: 'https://chat.example.org' }).backendUrl, 'https://chat.example.org');
});

test('defaults', () => {
  const options = validate({ backendUrl: 'https://chat.example.org/' });
  assert.deepEqual(options.examples, []);
  assert.equal(options.shortcut, 'ctrl+shift+l');
  assert.equal(options.title, 'Ask the book');
  assert.equal(options.launcherOffset, '4.5rem');
  assert.equal(options.enableInDevelopment, true);
  assert.equal(options.id, 'default');
});

test('examples are strings, at most six', () => {
  assert.deepEqual(validate({ backendUrl: 'https://c.example', examples: ['Why?', 'How?'] }).examples, ['Why?', 'How?']);
  assert.throws(() => validate({ backendUrl: 'https://c.example', examples: [''] }), /is not allowed to be empty/);
  assert.throws(() => validate({ backendUrl: 'https://c.example', examples: [1] }), /must be a string/);
  assert.throws(() => validate({ backendUrl: 'https://c.example', examples: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] }), /must contain less than or equal to 6 items/);
});

test('shortcut is modifiers and one key', () => {
  for (const shortcut of ['ctrl+shift+l', 'mod+k', 'alt+/', 'Cmd+Shift+I', 'f2']) {
    assert.equal(validate({ backendUrl: 'https://c.example', shortcut }).shortcut, shortcut);
  }
  for (const shortcut of ['ctrl+', 'ctrl+shift', 'hyper+k', 'ctrl+kk']) {
    assert.throws(() => validate({ backendUrl: 'https://c.example', shortcut }), /keyboard shortcut/, shortcut);
  }
});

test('unknown options are refused', () => {
  assert.throws(() => validate({ backendUrl: 'https://c.example', apiKey: 'x' }), /"apiKey" is not allowed/);
});

test('the plugin: theme path with Root, global data without a trailing slash, preconnect', async () => {
  const options = validate({ backendUrl: 'https://chat.example.org/', examples: ['Why?'] });
  const instance = plugin({ siteDir: '/site', baseUrl: '/book/' }, options);
  assert.equal(instance.name, 'docusaurus-plugin-bookmcp-chat');
  assert.ok(require('node:fs').existsSync(path.join(instance.getThemePath(), 'Root.js')));
  let data;
  await instance.contentLoaded({ content: undefined, actions: { setGlobalData: (value) => (data = value) } });
  assert.deepEqual(data, {
    backendUrl: 'https://chat.example.org',
    examples: ['Why?'],
    shortcut: 'ctrl+shift+l',
    title: 'Ask the book',
    launcherOffset: '4.5rem',
    enableInDevelopment: true,
  });
  assert.deepEqual(instance.injectHtmlTags().headTags, [
    { tagName: 'link', attributes: { rel: 'preconnect', href: 'https://chat.example.org', crossorigin: 'anonymous' } },
  ]);
});
