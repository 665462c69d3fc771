/**
 * The request stream both daemons receive: request i carries a new triplet
 * (its own client /24, sender and recipient), shaped like what Postfix smtpd
 * sends at RCPT time. Pure, so the benchmark and its tests agree on it.
 */
export function clientAddressOf(i: number): string {
  // 10.0.0.0/8 holds 65,536 distinct /24s; past that, move to 11/8, 12/8 ...
  return `${10 + Math.floor(i / 65536)}.${(i >> 8) & 255}.${i & 255}.7`;
}

export function policyRequest(i: number): string {
  const client = clientAddressOf(i);
  return (
    'request=smtpd_access_policy\n' +
    'protocol_state=RCPT\n' +
    'protocol_name=ESMTP\n' +
    `client_address=${client}\n` +
    'client_name=unknown\n' +
    'reverse_client_name=unknown\n' +
    'client_port=50123\n' +
    `helo_name=desktop-${i}\n` +
    `sender=user${i}.news@sender${i % 997}.example.org\n` +
    `recipient=rcpt${i}@example.net\n` +
    'recipient_count=0\n' +
    `queue_id=\n` +
    `instance=bench.${i}\n` +
    'size=0\n' +
    'etrn_domain=\n' +
    'stress=\n' +
    'sasl_method=\n' +
    'sasl_username=\n' +
    'sasl_sender=\n' +
    'ccert_subject=\n' +
    'ccert_issuer=\n' +
    'ccert_fingerprint=\n' +
    'encryption_protocol=\n' +
    'encryption_cipher=\n' +
    'encryption_keysize=0\n' +
    'server_address=127.0.0.1\n' +
    'server_port=25\n' +
    '\n'
  );
}

/** Nearest-rank percentile of an ascending-sorted sample, in the sample's unit. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
