import { spawnSync } from 'node:child_process';

/**
 * One DNS question for an A record, asked from namespace `ns` (stdlib Python: no resolver tools
 * here). Returns the address, `NXDOMAIN`, `TIMEOUT` or `RCODE<n>/<answers>`.
 */
export function dnsQuery(ns: string, server: string, name: string): string {
  const py = [
    'import socket, struct, sys',
    'name, server = sys.argv[1], sys.argv[2]',
    "q = struct.pack('>HHHHHH', 0x4752, 0x0100, 1, 0, 0, 0)",
    "q += b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\\0' + struct.pack('>HH', 1, 1)",
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)',
    's.sendto(q, (server, 53))',
    'try:',
    '    r, _ = s.recvfrom(512)',
    'except socket.timeout:',
    "    print('TIMEOUT'); sys.exit(0)",
    "rcode = r[3] & 15; an = struct.unpack('>H', r[6:8])[0]",
    "if rcode == 3: print('NXDOMAIN'); sys.exit(0)",
    "if rcode != 0 or an == 0: print('RCODE%d/%d' % (rcode, an)); sys.exit(0)",
    "print('.'.join(str(b) for b in r[-4:]))",
  ].join('\n');
  const r = spawnSync('ip', ['netns', 'exec', ns, '/usr/bin/python3', '-c', py, name, server], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  return `${r.stdout}${r.stderr}`.trim();
}
