import { main } from './main.js';

// The exit status is set rather than forced so that everything written to stdout is flushed first.
process.exitCode = await main(process.argv.slice(2));
