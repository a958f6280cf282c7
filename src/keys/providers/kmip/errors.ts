// Typed errors of the KMIP client. Callers (the key service's provider layer) match on the class or the stable
// `code`, never on message text. Messages carry identifiers and KMIP reasons only: never key material or data.
import { ResultReason } from './tags.ts';

export type KmipStateName = 'pre-active' | 'active' | 'deactivated' | 'compromised' | 'destroyed' | 'destroyed-compromised';

export class KmipError extends Error {
  readonly code: string;
  /** KMIP Result Reason when the server sent one. */
  readonly resultReason: number | undefined;
  /** Result Message from the server, cut to 200 characters. Server text: for operators, never for matching. */
  readonly serverMessage: string | undefined;
  constructor(code: string, message: string, opts: { resultReason?: number; serverMessage?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.resultReason = opts.resultReason;
    this.serverMessage = opts.serverMessage?.slice(0, 200);
  }
}

/** The server cannot be reached or did not answer in time: connect refused, TLS failure, reset, timeout. */
export class KmipUnavailableError extends KmipError {
  readonly kind: 'connect' | 'tls' | 'closed' | 'timeout' | 'pool_closed';
  constructor(kind: KmipUnavailableError['kind'], message: string, cause?: unknown) {
    super('kmip.unavailable', message, { cause });
    this.kind = kind;
  }
}

/** The server's reply is not a well-formed KMIP response (bad TTLV, missing fields, wrong batch item). */
export class KmipProtocolError extends KmipError {
  constructor(message: string, cause?: unknown) {
    super('kmip.protocol_error', message, { cause });
  }
}

export class KmipItemNotFoundError extends KmipError {}
/** The server refused the client's identity or its access to the object. */
export class KmipPermissionDeniedError extends KmipError {}
export class KmipAuthenticationError extends KmipError {}
/** The object is in a lifecycle state that does not allow the operation (e.g. sign with a revoked key). */
export class KmipWrongStateError extends KmipError {
  /** The object's state, when the client could read it. */
  readonly state: KmipStateName | undefined;
  constructor(message: string, state: KmipStateName | undefined, opts: { resultReason?: number; serverMessage?: string } = {}) {
    super('kmip.wrong_state', message, opts);
    this.state = state;
  }
}
/** The request was refused as malformed or with unsupported values (Invalid Field, Invalid Message, Missing Data). */
export class KmipInvalidRequestError extends KmipError {}
/** The server does not implement the operation, feature, key format or parameters. */
export class KmipNotSupportedError extends KmipError {}
export class KmipIllegalOperationError extends KmipError {}
export class KmipCryptographicFailureError extends KmipError {}
/** Anything else the server reports (General Failure and reasons the client does not single out). */
export class KmipServerError extends KmipError {}

/** Maps a failed batch item's Result Reason to the error class callers match on. */
export function errorForResult(operation: string, reason: number | undefined, serverMessage: string | undefined): KmipError {
  const opts = { resultReason: reason, serverMessage };
  const what = `KMIP ${operation} failed`;
  switch (reason) {
    case ResultReason.ItemNotFound:
      return new KmipItemNotFoundError('kmip.item_not_found', `${what}: item not found`, opts);
    case ResultReason.PermissionDenied:
      return new KmipPermissionDeniedError('kmip.permission_denied', `${what}: permission denied`, opts);
    case ResultReason.AuthenticationNotSuccessful:
      return new KmipAuthenticationError('kmip.authentication_failed', `${what}: authentication not successful`, opts);
    case ResultReason.WrongKeyLifecycleState:
      return new KmipWrongStateError(`${what}: wrong key lifecycle state`, undefined, opts);
    case ResultReason.InvalidMessage:
    case ResultReason.InvalidField:
    case ResultReason.MissingData:
    case ResultReason.IndexOutOfBounds:
      return new KmipInvalidRequestError('kmip.invalid_request', `${what}: request refused as invalid`, opts);
    case ResultReason.OperationNotSupported:
    case ResultReason.FeatureNotSupported:
    case ResultReason.KeyFormatTypeNotSupported:
    case ResultReason.KeyCompressionTypeNotSupported:
    case ResultReason.ApplicationNamespaceNotSupported:
      return new KmipNotSupportedError('kmip.not_supported', `${what}: not supported by the server`, opts);
    case ResultReason.IllegalOperation:
      return new KmipIllegalOperationError('kmip.illegal_operation', `${what}: illegal operation`, opts);
    case ResultReason.CryptographicFailure:
      return new KmipCryptographicFailureError('kmip.cryptographic_failure', `${what}: cryptographic failure`, opts);
    case ResultReason.Sensitive:
    case ResultReason.NotExtractable:
      return new KmipPermissionDeniedError('kmip.not_extractable', `${what}: the object is sensitive or not extractable`, opts);
    default:
      return new KmipServerError('kmip.server_error', `${what}: result reason ${reason === undefined ? 'missing' : `0x${reason.toString(16)}`}`, opts);
  }
}
