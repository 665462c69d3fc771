/**
 * Per-VM calls: a VM's user data, and deploying a VM through the async job
 * API (deployVirtualMachine, then queryAsyncJobResult until the job ends).
 */
import { decodeUserData } from '../metadata/userdata.js';
import type { CloudStackClient, Params } from './client.js';
import { CloudStackApiError } from './errors.js';
import type { RawAsyncJob, RawSshKeyPair, RawVirtualMachine, RawVirtualMachineUserData } from './messages.js';

/** getVirtualMachineUserData: the decoded bytes, or null when the VM has none. */
export async function fetchUserData(client: CloudStackClient, vmId: string): Promise<Buffer | null> {
  const body = await client.request<{ virtualmachineuserdata?: RawVirtualMachineUserData }>(
    'getVirtualMachineUserData',
    { virtualmachineid: vmId },
  );
  return decodeUserData(body.virtualmachineuserdata?.userdata);
}

/**
 * listSSHKeyPairs for every account the key sees (`listall=true`), then those of projects
 * (`projectid=-1`), as the inventory lists VMs.
 */
export async function fetchSshKeyPairs(client: CloudStackClient): Promise<RawSshKeyPair[]> {
  const own = await client.listAll<RawSshKeyPair>('listSSHKeyPairs', { listall: true }, 'sshkeypair');
  const projects = await client.listAll<RawSshKeyPair>(
    'listSSHKeyPairs',
    { listall: true, projectid: -1 },
    'sshkeypair',
  );
  return [...own, ...projects];
}

export type DeployProgress = (elapsedMs: number, job: RawAsyncJob) => void;

export interface DeployOptions {
  /** Between queryAsyncJobResult calls (default 2000 ms). */
  readonly pollMs?: number;
  /** Give up after this long (default 15 minutes); the job may still finish in CloudStack. */
  readonly timeoutMs?: number;
  readonly onProgress?: DeployProgress;
}

/**
 * deployVirtualMachine with the given parameters, then queryAsyncJobResult
 * until the job succeeds (resolves to the VM, with `password` when the
 * template is password-enabled) or fails (rejects with CloudStack's error text).
 */
export async function deployVirtualMachine(
  client: CloudStackClient,
  params: Params,
  options: DeployOptions = {},
): Promise<RawVirtualMachine> {
  const started = Date.now();
  const accepted = await client.request<{ id?: string; jobid?: string }>('deployVirtualMachine', params);
  if (!accepted.jobid) {
    throw new CloudStackApiError('CloudStack deployVirtualMachine: no jobid in the answer', {
      code: 'malformed-response',
      command: 'deployVirtualMachine',
      transient: false,
    });
  }
  const pollMs = options.pollMs ?? 2000;
  const timeoutMs = options.timeoutMs ?? 15 * 60_000;
  for (;;) {
    const job = await client.request<RawAsyncJob>('queryAsyncJobResult', { jobid: accepted.jobid });
    options.onProgress?.(Date.now() - started, job);
    if (job.jobstatus === 1) {
      const vm = job.jobresult?.virtualmachine;
      if (vm === undefined) {
        throw new CloudStackApiError(
          'CloudStack queryAsyncJobResult: job succeeded without a virtualmachine',
          {
            code: 'malformed-response',
            command: 'queryAsyncJobResult',
            transient: false,
          },
        );
      }
      return vm;
    }
    if (job.jobstatus === 2) {
      throw new CloudStackApiError(
        `CloudStack deployVirtualMachine: job ${accepted.jobid} failed: ${job.jobresult?.errortext ?? 'no error text'}`,
        { code: 'api-error', command: 'deployVirtualMachine', transient: false },
      );
    }
    if (Date.now() - started > timeoutMs) {
      throw new CloudStackApiError(
        `CloudStack deployVirtualMachine: job ${accepted.jobid} still running after ${Math.round(timeoutMs / 1000)} s`,
        { code: 'timeout', command: 'deployVirtualMachine', transient: false },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
