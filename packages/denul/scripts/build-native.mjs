// Compiles native/seek.c (lseek with SEEK_DATA/SEEK_HOLE, see there) into dist/seek.node through
// the repository's addon builder. Optional: without a compiler or the headers it says so and exits
// 0, and denul reads the holes of sparse files instead of skipping them. `make -C packages/denul
// build` and the tests run it after tsc.
import path from 'node:path';
import { buildAddon } from '../../../scripts/build-native.mjs';

buildAddon(path.resolve(import.meta.dirname, '..'), 'seek', 'sparse files will be read, not skipped');
