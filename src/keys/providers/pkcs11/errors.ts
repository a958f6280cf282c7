// The two ways a PKCS#11 call fails, as the key service sees them:
// - HsmUnavailableError: the module, slot, token or login is gone. Nothing about the request is wrong; the same
//   request may work once the token is back. Always 503 hsm.unavailable (fail closed, never fall back to software).
// - HsmOperationError: the token is there and refused this request (mechanism unsupported, key not found, bad
//   input, authentication tag mismatch). Retrying the same request will fail again.
// Both are ProblemErrors so they can leave a route as they are; details name PKCS#11 return values and object
// labels, never PINs or key material.
import { ProblemError } from '../../../core/problem.ts';

export type HsmUnavailableReason =
  | 'module_unavailable' // the library did not load or C_Initialize failed
  | 'token_absent' // no slot holds a token with the configured label
  | 'device_error' // the token stopped answering (removed, finalized, general error confirmed by a probe)
  | 'login_failed' // C_Login failed for a reason other than the PIN
  | 'pin_rejected' // the PIN was refused; not retried, so that retries cannot lock the token
  | 'busy' // no session became free in time
  | 'closed'; // the token wrapper was closed

export class HsmUnavailableError extends ProblemError {
  readonly reason: HsmUnavailableReason;
  /** The PKCS#11 return value behind it (e.g. CKR_DEVICE_REMOVED), when there was one. */
  readonly ckr: string | undefined;

  constructor(reason: HsmUnavailableReason, detail: string, ckr?: string) {
    super({
      code: 'hsm.unavailable',
      detail: ckr ? `${detail} (${ckr})` : detail,
      extra: { reason },
    });
    this.name = 'HsmUnavailableError';
    this.reason = reason;
    this.ckr = ckr;
  }
}

export type HsmOperationReason =
  | 'mechanism_unsupported'
  | 'key_not_found'
  | 'key_exists'
  | 'key_type_mismatch'
  | 'input_invalid'
  | 'decrypt_failed'
  | 'operation_failed';

export class HsmOperationError extends ProblemError {
  readonly reason: HsmOperationReason;
  readonly ckr: string | undefined;

  constructor(reason: HsmOperationReason, detail: string, ckr?: string) {
    super({ code: `hsm.${reason}`, detail: ckr ? `${detail} (${ckr})` : detail });
    this.name = 'HsmOperationError';
    this.reason = reason;
    this.ckr = ckr;
  }
}
