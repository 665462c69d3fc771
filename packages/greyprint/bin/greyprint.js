#!/usr/bin/env node
// Entry point installed as `greyprint` by npm; the code is compiled to dist/ by `make build`.
// Debian 12's own nodejs is 18: say so plainly instead of failing on a syntax or ABI error.
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  process.stderr.write(
    `greyprint: needs Node.js 20 or later, this is ${process.version} (${process.execPath}); ` +
      'on Debian 12 install Node.js 20 or 22 from NodeSource (see the README, "Install on a Debian mail server")\n',
  );
  process.exit(1);
}
await import('../dist/cli.js');
