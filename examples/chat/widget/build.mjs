// Bundles src/ into dist/widget.js (one IIFE with marked and DOMPurify inside, minified, with a
// source map) and dist/widget.css. `node build.mjs --watch` rebuilds on change.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const watch = process.argv.includes('--watch');
const dist = path.join(here, 'dist');

const common = {
  bundle: true,
  minify: !watch,
  sourcemap: true,
  target: ['chrome100', 'firefox100', 'safari15.4', 'edge100'],
  logLevel: 'warning',
  legalComments: 'eof',
};

const builds = [
  { ...common, entryPoints: [path.join(here, 'src/index.js')], outfile: path.join(dist, 'widget.js'), format: 'iife' },
  { ...common, entryPoints: [path.join(here, 'src/widget.css')], outfile: path.join(dist, 'widget.css') },
];

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
  console.log('watching src/ ...');
} else {
  rmSync(dist, { recursive: true, force: true });
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
