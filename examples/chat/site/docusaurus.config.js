// The sample book of this repository (examples/book/docs) as a Docusaurus 3 site with the
// bookmcp chat widget. The docs are served under /docs/ (routeBasePath 'docs'), which is where
// bookmcp's search hits point by default (--base-url /docs/).
//
// Environment (all optional):
//   BOOKMCP_CHAT_URL   the bookmcp-chat backend (default http://127.0.0.1:8788)
//   SITE_BASE_URL      the site's baseUrl (default /); e.g. /book/ for a site served under a path
//   SITE_URL           the site's url (default http://127.0.0.1)

const { themes: prismThemes } = require('prism-react-renderer');

const backendUrl = process.env.BOOKMCP_CHAT_URL || 'http://127.0.0.1:8788';
const baseUrl = process.env.SITE_BASE_URL || '/';

/** @type {import('@docusaurus/types').Config} */
module.exports = {
  title: 'Robotics Fundamentals',
  tagline: 'The sample book of bookmcp, with a chat that answers from it',
  url: process.env.SITE_URL || 'http://127.0.0.1',
  baseUrl,
  onBrokenLinks: 'throw',
  markdown: { hooks: { onBrokenMarkdownLinks: 'throw' } },
  i18n: { defaultLocale: 'en', locales: ['en'] },
  presets: [
    [
      'classic',
      /** @type {import('@docusaurus/preset-classic').Options} */
      ({
        docs: {
          path: '../../book/docs',
          routeBasePath: 'docs',
          sidebarPath: undefined,
        },
        blog: false,
        theme: { customCss: require.resolve('./src/css/custom.css') },
      }),
    ],
  ],
  plugins: [
    [
      'docusaurus-plugin-bookmcp-chat',
      {
        backendUrl,
        examples: ['Why does an IMU drift?', 'How do I tune a PID controller?', 'What is forward kinematics?'],
      },
    ],
  ],
  themeConfig: {
    navbar: {
      title: 'Robotics Fundamentals',
      items: [{ to: '/docs/', label: 'Book', position: 'left' }],
    },
    colorMode: { respectPrefersColorScheme: true },
    // Code themes whose every token has 4.5:1 contrast on its background (Docusaurus' default,
    // palenight, has comments at 2.8:1).
    prism: { theme: prismThemes.vsLight, darkTheme: prismThemes.vsDark },
  },
};
