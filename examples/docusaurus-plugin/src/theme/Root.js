// The site's Root wrapped: renders the page unchanged and, once the page is hydrated, adds
// <script src="{backendUrl}/widget.js"> with the plugin's options as data-* attributes, once per
// page load (the widget lives outside React, so route changes keep it).
// Plain ES module without JSX: it works whether or not the site's bundler transpiles it.
import { useEffect } from 'react';
import useDocusaurusContext from '@docusaurus/useDocusaurusContext';
import { usePluginData } from '@docusaurus/useGlobalData';

const SCRIPT_ID = 'bookmcp-chat-widget';

export function loadWidget(config, baseUrl) {
  if (typeof document === 'undefined' || document.getElementById(SCRIPT_ID) || !config?.backendUrl) return;
  const script = document.createElement('script');
  script.id = SCRIPT_ID;
  script.src = `${config.backendUrl}/widget.js`;
  script.async = true;
  script.crossOrigin = 'anonymous';
  script.dataset.backend = config.backendUrl;
  script.dataset.baseUrl = baseUrl || '/';
  script.dataset.examples = JSON.stringify(config.examples || []);
  if (config.shortcut) script.dataset.shortcut = config.shortcut;
  if (config.title) script.dataset.title = config.title;
  if (config.launcherOffset) script.dataset.offsetBottom = config.launcherOffset;
  document.body.appendChild(script);
}

export default function Root({ children }) {
  const { siteConfig } = useDocusaurusContext();
  const config = usePluginData('docusaurus-plugin-bookmcp-chat');
  useEffect(() => {
    if (process.env.NODE_ENV === 'development' && config && config.enableInDevelopment === false) return undefined;
    // After hydration and after the browser is idle, so the widget never delays the page.
    const run = () => loadWidget(config, siteConfig.baseUrl);
    if (typeof window.requestIdleCallback === 'function') {
      const handle = window.requestIdleCallback(run, { timeout: 2000 });
      return () => window.cancelIdleCallback(handle);
    }
    const timer = window.setTimeout(run, 200);
    return () => window.clearTimeout(timer);
  }, [config, siteConfig.baseUrl]);
  return children;
}
