#!/usr/bin/env -S node --max-semi-space-size=2
// Entry point installed as `guestrouter` by npm; the code is compiled to dist/ by `make build`.
// A 2 MiB young generation (V8's default grows to 16 MiB per semi-space): `run` at 10,000 VMs
// allocates in bursts (inventory pages, user data calls) and kept the young generation's peak
// as resident memory; with 2 MiB its peak RSS stays under 150 MiB (bench/metadata.ts).
import '../dist/cli.js';
