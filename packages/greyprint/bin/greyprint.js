#!/usr/bin/env node
// Entry point installed as `greyprint` by npm; the code is compiled to dist/ by `make build`.
import '../dist/cli.js';
