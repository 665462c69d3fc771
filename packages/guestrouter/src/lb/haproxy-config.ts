/**
 * Pure: the haproxy configuration for the load balancer frontends. TCP mode,
 * one frontend and backend per CloudStack rule, health checks every second
 * (a dead backend is out after two failed checks, about 2 s), and an admin
 * stats socket for operators and tests.
 */
import type { DesiredLb } from './desired.js';

export interface HaproxyConfigOptions {
  readonly statsSocket: string;
  /** Health check interval in milliseconds (default 1000). */
  readonly checkIntervalMs?: number;
}

/** haproxy section names allow letters, digits, '-', '_', '.', ':'; CloudStack ids are UUIDs. */
function section(ruleId: string): string {
  return `lb_${ruleId.replace(/[^A-Za-z0-9_.:-]/g, '_')}`;
}

export function renderHaproxyConfig(lb: DesiredLb, options: HaproxyConfigOptions): string {
  const inter = options.checkIntervalMs ?? 1000;
  const lines = [
    '# Written by guestrouter from the CloudStack load balancer rules; rewritten every cycle. Do not edit.',
    'global',
    `    stats socket ${options.statsSocket} mode 600 level admin expose-fd listeners`,
    '    log stderr format short local0 warning',
    '',
    'defaults',
    '    mode tcp',
    '    log global',
    '    timeout connect 5s',
    '    timeout client 1h',
    '    timeout server 1h',
    `    default-server inter ${inter}ms fall 2 rise 2`,
  ];
  for (const f of lb.frontends) {
    const name = section(f.ruleId);
    lines.push(
      '',
      `# ${f.name}: ${f.publicAddress}:${f.publicPort} -> port ${f.privatePort} (${f.algorithm})`,
      `frontend ${name}`,
      `    bind ${f.publicAddress}:${f.publicPort}`,
      `    default_backend ${name}`,
      '',
      `backend ${name}`,
      `    balance ${f.algorithm}`,
    );
    for (const b of f.backends) lines.push(`    server ${b.vmId} ${b.address}:${f.privatePort} check`);
  }
  return `${lines.join('\n')}\n`;
}
