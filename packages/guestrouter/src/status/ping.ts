import { execFile, inNetns } from '../kernel/exec.js';
import type { Pinger } from './status.js';

/** One ICMP echo with a short deadline, from the router (inside its namespace when given). */
export function systemPinger(netns: string | undefined, timeoutSeconds: number): Pinger {
  return async (address) => {
    const [file, args] = inNetns(netns, 'ping', [
      '-c',
      '1',
      '-n',
      '-q',
      '-W',
      String(timeoutSeconds),
      address,
    ]);
    const result = await execFile(file, args, undefined, (timeoutSeconds + 5) * 1000);
    return result.code === 0;
  };
}
