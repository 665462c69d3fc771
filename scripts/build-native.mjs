// Compiles a package's optional Node-API addon, native/NAME.c, into dist/NAME.node with the system
// C compiler and the Node-API headers installed with Node.js:
//   node scripts/build-native.mjs PACKAGE_DIR NAME "what the package does without it"
// Optional by design: without a compiler or the headers it says so on stderr and exits 0, and the
// package takes its slower path (each package's README names it). Rebuilt only when the source is
// newer than the addon. `make build` runs it for denul (seek) and guestrouter (neigh).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Builds packageDir/native/name.c into packageDir/dist/name.node unless that is up to date. */
export function buildAddon(packageDir, name, without) {
  const source = path.join(packageDir, 'native', `${name}.c`);
  const outFile = path.join(packageDir, 'dist', `${name}.node`);
  // Node.js installs its headers beside its binary: <prefix>/bin/node -> <prefix>/include/node.
  const includeDir = path.resolve(path.dirname(process.execPath), '..', 'include', 'node');
  const compiler = process.env.CC ?? 'cc';
  const built = fs.statSync(outFile, { throwIfNoEntry: false });
  if (built !== undefined && built.mtimeMs >= fs.statSync(source).mtimeMs) return;
  if (!fs.existsSync(path.join(includeDir, 'node_api.h'))) {
    console.error(`build-native: no Node-API headers in ${includeDir}; ${without}`);
    return;
  }
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const temp = `${outFile}.${process.pid}.tmp`;
  try {
    execFileSync(
      compiler,
      ['-O2', '-shared', '-fPIC', '-Wall', '-Werror', '-I', includeDir, '-o', temp, source],
      { stdio: 'inherit' },
    );
    fs.renameSync(temp, outFile);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    console.error(`build-native: ${compiler} failed (${error.message}); ${without}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const [packageDir, name, without] = process.argv.slice(2);
  if (!packageDir || !name) {
    console.error('usage: node scripts/build-native.mjs PACKAGE_DIR NAME "what the package does without it"');
    process.exit(2);
  }
  buildAddon(path.resolve(packageDir), name, without ?? 'the package takes its slower path');
}
