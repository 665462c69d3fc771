import { main } from './main.js';

/**
 * The bundle's entry (scripts/bundle.mjs makes dist/denul.cjs from it): CommonJS has no
 * top-level await, so the exit status is set when main settles. Set rather than forced, so
 * that everything written to stdout is flushed first.
 */
main(process.argv.slice(2)).then((status) => {
  process.exitCode = status;
});
