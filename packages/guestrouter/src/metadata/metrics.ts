import { Counter, Gauge, type Registry } from 'prom-client';

/** prom-client metrics of the meta data and password servers. */
export class MetadataMetrics {
  readonly requests: Counter<'service' | 'result'>;
  readonly pendingPasswords: Gauge;
  readonly userDataFetches: Counter<'outcome'>;
  readonly vms: Gauge;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'guestrouter_metadata_requests_total',
      help: 'Requests to the meta data (port 80) and password (port 8080) servers, by service and result; result "refused" is a failed identity check',
      labelNames: ['service', 'result'] as const,
      registers: [registry],
    });
    this.pendingPasswords = new Gauge({
      name: 'guestrouter_metadata_pending_passwords',
      help: 'Passwords waiting for their VM to fetch them',
      registers: [registry],
    });
    this.userDataFetches = new Counter({
      name: 'guestrouter_metadata_userdata_fetches_total',
      help: 'getVirtualMachineUserData calls, by outcome (ok, failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    });
    this.vms = new Gauge({
      name: 'guestrouter_metadata_vm_nics',
      help: 'VM NICs the meta data server answers for',
      registers: [registry],
    });
  }
}
