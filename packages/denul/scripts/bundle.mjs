// Bundles dist/ (compiled by tsc) into one CommonJS file, dist/denul.cjs, which bin/denul.js
// loads. Why: Node.js 20 starts an ES module graph of a dozen files about 30 ms (CPU) slower
// than one CommonJS file (bench/startup.ts), and start-up is a fair part of denul's time on
// inputs of a few hundred MiB. commander and opskit stay outside: they are only imported when
// an option is given. Run after tsc: `make -C packages/denul build` and the tests do both.
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const packageDir = path.resolve(import.meta.dirname, '..');
const entry = path.join(packageDir, 'dist', 'cli.js');
const outfile = path.join(packageDir, 'dist', 'denul.cjs');

if (!fs.existsSync(entry)) {
  console.error(`bundle: ${entry} is missing; run tsc -b packages/denul first`);
  process.exit(1);
}
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['commander', 'opskit', 'opskit/*'],
  // --version reads ../package.json relative to the module: give the bundle its own URL.
  banner: { js: 'const denulBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': 'denulBundleUrl' },
  logLevel: 'warning',
});
