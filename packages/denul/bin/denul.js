#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
// Entry point installed as `denul` by npm. It is CommonJS (bin/package.json) and loads the one-file
// bundle dist/denul.cjs: Node.js 20 starts that about 30 ms (CPU) faster than the ES modules of
// dist/ (bench/startup.ts). Should the bundle be missing or older than dist/.tsbuildinfo (dist/ rebuilt
// by tsc alone), the ES modules run instead: slower to start, never stale.
//
// The shebang drops NODE_EXTRA_CA_CERTS: Node.js 20 loads that certificate file when it starts,
// before any of our code runs (about 60-70 ms of CPU with Debian's bundle), and denul makes no
// TLS connection.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const mtime = (file) => fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? -1;
const bundleTime = mtime(path.join(dist, 'denul.cjs'));
if (bundleTime >= 0 && bundleTime >= mtime(path.join(dist, '.tsbuildinfo'))) {
  require('../dist/denul.cjs');
} else {
  import('../dist/cli.js');
}
