// The PKCS#11 binding (pkcs11js, PeculiarVentures: a thin Node-API wrapper over the Cryptoki C API) and the one
// place that sorts its return values into what the token wrapper does about them.
import pkcs11js from 'pkcs11js';

export type { GcmParams, Handle, Mechanism, PKCS11 as Pkcs11Library, RsaPSS, Template } from 'pkcs11js';

/** Constants (CKA_*, CKM_*, CKR_*, ...) and classes of the binding. */
export const ck = pkcs11js;

// Session states (PKCS#11 2.40 §5.7); the binding exports no CKS_* constants.
export const CKS_RO_USER_FUNCTIONS = 1;
export const CKS_RW_USER_FUNCTIONS = 3;

/** A Cryptoki return value carried by an error from the binding, if it carries one. */
export function returnValue(e: unknown): { code: number; name: string } | undefined {
  if (e instanceof ck.Pkcs11Error) return { code: e.code, name: e.message };
  return undefined;
}

/**
 * What a failed call means for the caller:
 * - session: this session is unusable (closed behind our back); use another one.
 * - login: the token is logged out; log in again.
 * - device: the module or token is gone; finalize, initialize and find the token again.
 * - ambiguous: could be the token going away or a plain refusal; a cheap probe of the token decides.
 *   SoftHSM 2.6.1 answers CKR_GENERAL_ERROR both when its token directory vanished and when an AES-GCM tag does not
 *   match, and a logged-out token makes private keys invisible (CKR_OBJECT_HANDLE_INVALID), not refused.
 * - operation: the token refused this request; say why.
 */
export type Fault = 'session' | 'login' | 'device' | 'ambiguous' | 'operation';

const FAULTS = new Map<number, Fault>([
  [ck.CKR_SESSION_HANDLE_INVALID, 'session'],
  [ck.CKR_SESSION_CLOSED, 'session'],
  [ck.CKR_OPERATION_ACTIVE, 'session'],
  [ck.CKR_USER_NOT_LOGGED_IN, 'login'],
  [ck.CKR_DEVICE_REMOVED, 'device'],
  [ck.CKR_DEVICE_ERROR, 'device'],
  [ck.CKR_TOKEN_NOT_PRESENT, 'device'],
  [ck.CKR_TOKEN_NOT_RECOGNIZED, 'device'],
  [ck.CKR_CRYPTOKI_NOT_INITIALIZED, 'device'],
  [ck.CKR_SLOT_ID_INVALID, 'device'],
  [ck.CKR_GENERAL_ERROR, 'ambiguous'],
  [ck.CKR_OBJECT_HANDLE_INVALID, 'ambiguous'],
  [ck.CKR_KEY_HANDLE_INVALID, 'ambiguous'],
]);

export function faultOf(e: unknown): Fault {
  const rv = returnValue(e);
  if (rv === undefined) {
    // A NativeError without a return value: the library itself misbehaved (e.g. it was unloaded).
    return e instanceof ck.NativeError ? 'device' : 'operation';
  }
  return FAULTS.get(rv.code) ?? 'operation';
}
