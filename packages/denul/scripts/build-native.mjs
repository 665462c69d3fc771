// Compiles native/seek.c (lseek with SEEK_DATA/SEEK_HOLE, see there) into dist/seek.node with
// the system C compiler and the Node-API headers installed with Node.js. Optional: without a
// compiler or the headers it says so and exits 0, and denul reads the holes of sparse files
// instead of skipping them. `make -C packages/denul build` and the tests run it after tsc.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const packageDir = path.resolve(import.meta.dirname, '..');
const source = path.join(packageDir, 'native', 'seek.c');
const outFile = path.join(packageDir, 'dist', 'seek.node');
// Node.js installs its headers beside its binary: <prefix>/bin/node -> <prefix>/include/node.
const includeDir = path.resolve(path.dirname(process.execPath), '..', 'include', 'node');
const compiler = process.env.CC ?? 'cc';

const upToDate = () => {
  const built = fs.statSync(outFile, { throwIfNoEntry: false });
  return built !== undefined && built.mtimeMs >= fs.statSync(source).mtimeMs;
};

if (!upToDate()) {
  if (!fs.existsSync(path.join(includeDir, 'node_api.h'))) {
    console.error(
      `build-native: no Node-API headers in ${includeDir}; sparse files will be read, not skipped`,
    );
    process.exit(0);
  }
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const temp = `${outFile}.${process.pid}.tmp`;
  try {
    execFileSync(
      compiler,
      ['-O2', '-shared', '-fPIC', '-Wall', '-Werror', '-I', includeDir, '-o', temp, source],
      {
        stdio: 'inherit',
      },
    );
    fs.renameSync(temp, outFile);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    console.error(
      `build-native: ${compiler} failed (${error.message}); sparse files will be read, not skipped`,
    );
  }
}
