import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { formatReport } from '../status/report.js';
import type { StatusSummary } from '../status/summary.js';
import { parsePeriod } from '../status/summary.js';

interface ReportFlags {
  from?: string;
  config?: string;
  period: string;
  json?: boolean;
  timeout: string;
}

/** A report that could not be had from the daemon (exit 1), apart from usage errors (exit 2). */
class ReportFailure extends Error {}

/**
 * `greyprint report`: the status page's figures as tables. The counters live in the running
 * daemon, so the report asks its metrics endpoint (`/api/summary`), which also reads the store:
 * the page and the report show the same numbers by construction.
 */
export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description("print the status page's figures for a period as tables (asks the running daemon)")
    .option('--from <host:port>', "the daemon's metrics address (default: `metrics` from --config)")
    .option('-c, --config <file>', 'config file to read the metrics address from')
    .option('--period <span>', 'how far back: seconds or N[smhd], e.g. 15m, 6h, 1d', '1h')
    .option('--json', 'print the summary as one JSON line instead of tables')
    .option('--timeout <ms>', 'wait this long for the daemon', '5000')
    .addHelpText(
      'after',
      '\nExample:\n  greyprint report --from 127.0.0.1:9101 --period 6h\n' +
        '  prints decisions by verdict, the share of greylisted mail that retried, the delay added,\n' +
        '  the OS mix, the top greylisted networks and the health of the store and p0f',
    )
    .action(async (f: ReportFlags) => {
      let from: string | undefined;
      try {
        parsePeriod(f.period, 3600);
        from =
          f.from ?? (f.config === undefined ? undefined : (await loadConfig({ file: f.config })).metrics);
        if (from === undefined)
          throw new Error(
            'say where the daemon serves its metrics: --from HOST:PORT or a --config with "metrics"',
          );
      } catch (err) {
        process.stderr.write(`greyprint: ${(err as Error).message}\n`);
        process.exit(2);
      }
      try {
        const url = `http://${from}/api/summary?period=${encodeURIComponent(f.period)}`;
        const response = await fetch(url, { signal: AbortSignal.timeout(Number(f.timeout) || 5000) }).catch(
          (err: Error) => {
            throw new ReportFailure(`cannot reach the daemon at ${from}: ${err.cause ?? err.message}`);
          },
        );
        if (response.status !== 200) {
          throw new ReportFailure(`${url}: HTTP ${response.status}: ${(await response.text()).trim()}`);
        }
        const summary = (await response.json()) as StatusSummary;
        process.stdout.write(f.json ? `${JSON.stringify(summary)}\n` : formatReport(summary));
      } catch (err) {
        process.stderr.write(`greyprint: ${(err as Error).message}\n`);
        process.exit(1);
      }
    });
}
