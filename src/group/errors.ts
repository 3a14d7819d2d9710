/**
 * Typed errors of the group layer. Every refusal names what was wrong and how to fix it, so the
 * CLI can print `message` + `hint` and exit non-zero instead of a stack trace.
 */

export type GroupErrorCode =
  | 'EINVALIDOPTION'   // an option has the wrong type or range
  | 'EUNKNOWNPOLICY'   // policy name not in the registry
  | 'EPOLICYLOAD'      // the kernel (or the simulator's verifier) refused the program
  | 'EBACKEND'         // the requested backend cannot run here
  | 'EADDRINUSE'       // the port is held by a socket outside the group
  | 'EWORKERSTART'     // a worker exited or threw before it was ready
  | 'EREADYTIMEOUT'    // a worker did not listen within the ready timeout
  | 'ENOTREUSEPORT'    // a socket handed to the group is not SO_REUSEPORT
  | 'EPRIVILEGE'       // a privileged operation without the privilege
  | 'ESTATE'           // the group or worker is not in a state that allows the call
  | 'ENOWORKER';       // no worker with that id

export class GroupError extends Error {
  readonly code: GroupErrorCode;
  /** One line telling the user how to fix it. */
  readonly hint: string | undefined;
  /** The verifier log for EPOLICYLOAD. */
  readonly log: string | undefined;

  constructor(code: GroupErrorCode, message: string, opts: { hint?: string; log?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GroupError';
    this.code = code;
    this.hint = opts.hint;
    this.log = opts.log;
  }
}
