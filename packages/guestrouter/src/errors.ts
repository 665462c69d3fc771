/** Typed errors: each carries what the operator needs to act (file, key, interface, command). */

export class GuestrouterConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(
    message: string,
    readonly file?: string,
    readonly key?: string,
  ) {
    super(message);
    this.name = 'GuestrouterConfigError';
  }
}

/** A trunk or uplink interface named in the config does not exist on the router. */
export class InterfaceMissingError extends Error {
  readonly code = 'INTERFACE_MISSING';
  constructor(
    readonly role: 'trunk' | 'uplink',
    readonly interfaceName: string,
    readonly netns?: string,
  ) {
    super(
      `the ${role} interface ${interfaceName} does not exist${netns ? ` in network namespace ${netns}` : ''}: ` +
        `create it or pass --${role} with an existing interface`,
    );
    this.name = 'InterfaceMissingError';
  }
}

/** A command the kernel adapter ran (ip, sysctl) failed. */
export class CommandFailedError extends Error {
  readonly code = 'COMMAND_FAILED';
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    /** For `ip -batch`: the plan line that failed, when ip said which. */
    readonly failedLine?: string,
  ) {
    super(
      `${command} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || 'no error output'}` +
        (failedLine ? ` [plan line: ${failedLine}]` : ''),
    );
    this.name = 'CommandFailedError';
  }
}

/** Some plan lines failed; the others were applied (ip -force -batch). */
export class ApplyIncompleteError extends Error {
  readonly code = 'APPLY_INCOMPLETE';
  /** Failures counted by error text, most frequent first. */
  readonly summary: { readonly links: number; readonly byError: Record<string, number> };
  constructor(
    readonly failures: readonly { readonly line: string; readonly link?: string; readonly error: string }[],
  ) {
    const counts = new Map<string, number>();
    for (const f of failures) counts.set(f.error, (counts.get(f.error) ?? 0) + 1);
    const byError = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
    const links = new Set(failures.map((f) => f.link)).size;
    // A batch of thousands of failed lines gives a message of a few lines, not 147 KB.
    const shown = failures.slice(0, 5).map((f) => `"${f.line}": ${f.error}`);
    const more = failures.length > 5 ? `; ... ${failures.length - 5} more` : '';
    const kinds =
      failures.length > 5
        ? ` (by error: ${Object.entries(byError)
            .slice(0, 5)
            .map(([e, n]) => `${n} x ${e}`)
            .join('; ')})`
        : '';
    super(
      `${failures.length} plan line(s) on ${links} link(s) failed, the rest was applied: ${shown.join('; ')}${more}${kinds}`,
    );
    this.name = 'ApplyIncompleteError';
    this.summary = { links, byError };
  }
}

/** Output of `ip -json` that is not what iproute2 prints. */
export class KernelStateParseError extends Error {
  readonly code = 'KERNEL_STATE_UNPARSABLE';
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`cannot parse ${source}: ${detail}`);
    this.name = 'KernelStateParseError';
  }
}

/** A plan would delete more links than the deletion budget allows; none was deleted. */
export class DeletionBudgetError extends Error {
  readonly code = 'DELETION_BUDGET';
  constructor(
    readonly links: readonly string[],
    readonly limit: number,
  ) {
    const shown =
      links.slice(0, 10).join(', ') + (links.length > 10 ? `, ... (${links.length - 10} more)` : '');
    super(
      `refusing to delete ${links.length} networks in one cycle (limit ${limit}): ${shown} kept as they are; ` +
        `if CloudStack really removed them, confirm with \`guestrouter apply --allow-deletes ${links.length}\` ` +
        '(or raise safety.maxDeletesPerCycle)',
    );
    this.name = 'DeletionBudgetError';
  }
}
