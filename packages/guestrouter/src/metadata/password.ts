/** What the password server answers and whether the pending password is then deleted. */
export interface PasswordAnswer {
  readonly body: string;
  /** `sent`: the pending password was handed out; `acknowledged`: it is to be deleted. */
  readonly result: 'sent' | 'none' | 'acknowledged' | 'bad-request';
}

/**
 * The Virtual Router's password protocol (its passwd_server_ip.py), on the
 * value of the `DomU_Request` header: `send_my_password` gets the pending
 * password or `saved_password` when there is none; `saved_password` is the
 * VM's acknowledgement, answered `saved_password`, after which the password is
 * deleted; anything else, a missing header included, gets `bad_request`.
 * Pure: the caller looks the password up and deletes it.
 */
export function passwordExchange(request: string | undefined, pending: string | undefined): PasswordAnswer {
  switch (request?.trim()) {
    case 'send_my_password':
      return pending === undefined
        ? { body: 'saved_password', result: 'none' }
        : { body: pending, result: 'sent' };
    case 'saved_password':
      return { body: 'saved_password', result: 'acknowledged' };
    default:
      return { body: 'bad_request', result: 'bad-request' };
  }
}
