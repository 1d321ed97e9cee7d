// docusaurus-plugin-bookmcp-chat: adds the bookmcp-chat widget to every page of a Docusaurus 3
// site. The options are validated with Joi (validateOptions), kept as the plugin's global data,
// and read by a theme Root wrapper that loads {backendUrl}/widget.js once, after hydration.
'use strict';

const path = require('node:path');

const { Joi } = require('@docusaurus/utils-validation');

const PLUGIN_NAME = 'docusaurus-plugin-bookmcp-chat';

// "ctrl+shift+l", "mod+k", "alt+/": modifiers joined with "+", then one key.
const SHORTCUT = /^((ctrl|control|cmd|command|meta|mod|alt|option|shift)\+)*([a-z0-9/.,;'[\]\\`=-]|f[1-9]|f1[0-2])$/i;

const schema = Joi.object({
  backendUrl: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .required()
    .description('Origin (and optional path) of the bookmcp-chat backend, e.g. https://chat.example.org'),
  examples: Joi.array().items(Joi.string().min(1).max(200)).max(6).default([]),
  shortcut: Joi.string().pattern(SHORTCUT, 'keyboard shortcut').default('ctrl+shift+l'),
  title: Joi.string().min(1).max(60).default('Ask the book'),
  // Distance of the launcher from the bottom edge: above Docusaurus' "back to top" button.
  launcherOffset: Joi.string()
    .pattern(/^\d+(\.\d+)?(px|rem|em)$/, 'CSS length')
    .default('4.5rem'),
  // false: no widget under `docusaurus start` (when the backend's CORS setting names only the
  // deployed site).
  enableInDevelopment: Joi.boolean().default(true),
});

function pluginBookmcpChat(context, options) {
  return {
    name: PLUGIN_NAME,

    getThemePath() {
      return path.join(__dirname, 'theme');
    },

    async contentLoaded({ actions }) {
      actions.setGlobalData({
        backendUrl: options.backendUrl.replace(/\/+$/, ''),
        examples: options.examples,
        shortcut: options.shortcut,
        title: options.title,
        launcherOffset: options.launcherOffset,
        enableInDevelopment: options.enableInDevelopment,
      });
    },

    // Lets the browser open the backend's connection early.
    injectHtmlTags() {
      let origin;
      try {
        origin = new URL(options.backendUrl).origin;
      } catch {
        return {};
      }
      return {
        headTags: [{ tagName: 'link', attributes: { rel: 'preconnect', href: origin, crossorigin: 'anonymous' } }],
      };
    },
  };
}

function validateOptions({ validate, options }) {
  return validate(schema, options);
}

module.exports = pluginBookmcpChat;
module.exports.default = pluginBookmcpChat;
module.exports.validateOptions = validateOptions;
module.exports.schema = schema;
module.exports.PLUGIN_NAME = PLUGIN_NAME;
