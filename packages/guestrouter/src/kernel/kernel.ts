import type { SysctlSetting } from '../desired/types.js';
import { CommandFailedError } from '../errors.js';
import { execChecked, execFile, inNetns } from './exec.js';
import {
  combineLinksAndAddresses,
  parseAddresses,
  parseLinks,
  parseProxyNeighbours,
  parseSysctlDump,
  sysctlPath,
} from './parse.js';
import type { CurrentState } from './types.js';

/** The I/O side: reads and changes the router's kernel state with iproute2 and sysctl. */
export interface KernelAdapter {
  readState(sysctlKeys: readonly string[]): Promise<CurrentState>;
  runBatch(lines: readonly string[]): Promise<BatchFailure[]>;
  writeSysctls(settings: readonly SysctlSetting[]): Promise<void>;
  /** Sends one gratuitous ARP for an address on a link; resolves with an error text when it could not. */
  announce(link: string, address: string): Promise<string | undefined>;
}

export interface BatchFailure {
  /** 0-based index into the batch lines. */
  readonly index: number;
  readonly line: string;
  readonly error: string;
}

/** ip -batch prints the error text, then `Command failed -:N` (1-based) for each failed line. */
export function parseBatchFailures(stderr: string, lines: readonly string[]): BatchFailure[] {
  const failures: BatchFailure[] = [];
  let pending: string[] = [];
  for (const text of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)$/.exec(text.trim());
    if (!m) {
      if (text.trim() !== '') pending.push(text.trim());
      continue;
    }
    const index = Number(m[1]) - 1;
    failures.push({ index, line: lines[index] ?? '', error: pending.join(' ') || 'failed' });
    pending = [];
  }
  return failures;
}

export function ipArgs(netns: string | undefined, args: readonly string[]): string[] {
  return netns ? ['-n', netns, ...args] : [...args];
}

export class IprouteKernel implements KernelAdapter {
  constructor(private readonly netns?: string) {}

  async readState(sysctlKeys: readonly string[]): Promise<CurrentState> {
    const [linksText, addrText, neighText] = await Promise.all([
      execChecked('ip', ipArgs(this.netns, ['-json', '-details', 'link', 'show'])),
      execChecked('ip', ipArgs(this.netns, ['-json', 'addr', 'show'])),
      execChecked('ip', ipArgs(this.netns, ['-N', '-json', 'neigh', 'show', 'proxy'])),
    ]);
    const links = combineLinksAndAddresses(parseLinks(linksText), parseAddresses(addrText));
    // grep -sH prints "path:value" for each file that exists and stays silent for
    // the others (a link not created yet); exit 2 then only means "some missing".
    let sysctls = new Map<string, string>();
    if (sysctlKeys.length > 0) {
      const [file, args] = inNetns(this.netns, 'grep', ['-sH', '', ...sysctlKeys.map(sysctlPath)]);
      const result = await execFile(file, args);
      if (result.code !== 0 && result.code !== 1 && result.code !== 2) {
        throw new CommandFailedError(`${file} ${args.slice(0, 4).join(' ')} ...`, result.code, result.stderr);
      }
      sysctls = parseSysctlDump(result.stdout);
    }
    return { links, sysctls, proxyNeighbours: parseProxyNeighbours(neighText) };
  }

  /**
   * Runs the lines with `ip -force -batch`: a line that fails (a VLAN on a kernel
   * without 802.1Q, say) does not stop the lines for other networks. Returns
   * the failed lines with ip's error text.
   */
  async runBatch(lines: readonly string[]): Promise<BatchFailure[]> {
    if (lines.length === 0) return [];
    const args = ipArgs(this.netns, ['-force', '-batch', '-']);
    const result = await execFile('ip', args, `${lines.join('\n')}\n`);
    if (result.code === 0) return [];
    const failures = parseBatchFailures(result.stderr, lines);
    if (failures.length === 0)
      throw new CommandFailedError(`ip ${args.join(' ')}`, result.code, result.stderr);
    return failures;
  }

  /**
   * `arping -U -c 1`: the VMs on the link update the gateway's MAC in their ARP caches at once
   * instead of after their entry goes stale (iputils-arping; it waits its 1 s interval before exiting).
   */
  async announce(link: string, address: string): Promise<string | undefined> {
    const [file, args] = inNetns(this.netns, 'arping', ['-q', '-U', '-c', '1', '-I', link, address]);
    try {
      const result = await execFile(file, args, undefined, 10_000);
      return result.code === 0 ? undefined : result.stderr.trim() || `arping exit ${result.code}`;
    } catch (error) {
      return (error as Error).message;
    }
  }

  async writeSysctls(settings: readonly SysctlSetting[]): Promise<void> {
    if (settings.length === 0) return;
    const [file, args] = inNetns(this.netns, 'sysctl', [
      '-q',
      '-w',
      ...settings.map((s) => `${s.key}=${s.value}`),
    ]);
    const result = await execFile(file, args);
    if (result.code !== 0)
      throw new CommandFailedError(`${file} ${args.slice(0, 6).join(' ')} ...`, result.code, result.stderr);
  }
}
