import type { RefreshOutcome, UserDataSource } from '../metadata/userdata.js';

const NOTHING_FETCHED: RefreshOutcome = { fetched: 0, failed: 0, removed: 0, errors: [] };

/**
 * User data as the extension's events gave it (save-vm-data, save-userdata): nothing to fetch, so a
 * refresh is free and an event is served by the cycle that acknowledges it. From events alone a VM
 * the events never gave user data has none (CloudStack sends save-vm-data before the VM starts).
 */
export class EventUserData implements UserDataSource {
  constructor(private readonly lookup: (vmId: string) => Buffer | null | undefined) {}

  async refresh(): Promise<RefreshOutcome> {
    return NOTHING_FETCHED;
  }

  get(vmId: string): Buffer | null {
    return this.lookup(vmId) ?? null;
  }
}

/**
 * Events and polling: what an event said wins (it is newer than the last fetch, which may be up to
 * metadata.userDataMaxAgeSeconds old); VMs the events did not cover come from the API cache.
 */
export class LayeredUserData implements UserDataSource {
  constructor(
    private readonly events: (vmId: string) => Buffer | null | undefined,
    private readonly api: UserDataSource,
  ) {}

  refresh(vmIds: readonly string[]): Promise<RefreshOutcome> {
    return this.api.refresh(vmIds);
  }

  get(vmId: string): Buffer | null | undefined {
    const fromEvents = this.events(vmId);
    return fromEvents !== undefined ? fromEvents : this.api.get(vmId);
  }
}
