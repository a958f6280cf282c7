// The seam between the login flow and whoever checks the second factor (KeyCape §6.4, §8.6: "the exact MFA mechanics
// may be delegated to privacyIDEA"). The login flow calls an MfaAuthority and never talks to privacyIDEA itself.
//
// Outcomes are values, the authority being unable to decide is an exception:
//  - accept / reject / challenge / pending are answers (MfaResult, MfaPollResult);
//  - MfaAuthorityUnavailableError means there is no answer (down, slow, TLS, 5xx, malformed, privacyIDEA's
//    `result.status: false`). The login flow must treat it as "no sign-in": it never degrades to a pass, to the
//    builtin TOTP, or to password-only.
//
// Builtin adapter (not written yet; the builtin TOTP stays in interactions.ts for now). Its shape, for the lead:
//   class BuiltinTotpAuthority implements MfaAuthority {
//     kind = 'builtin';
//     constructor(deps: { directory: IdpDirectory (getTotp, useTotpStep), issuer: string, throttle: Throttle })
//     check(user, code): the TOTP validation of submitTotp (6 digits, window 1, a time step used once) →
//       accept {serial: enrolment id} | reject {reason: 'rejected'}; enrolment (pendingTotp/confirmTotp) stays in
//       the page code because privacyIDEA enrols its tokens itself;
//     startChallenge / answerChallenge / poll: reject {reason: 'no_challenge'} (TOTP has no challenge).
//   }
// Throttling (idp_throttle) stays in the login flow for both authorities: privacyIDEA has its own fail counter as
// well, Keyward's counts before privacyIDEA is asked.
import type { MFAEnrollmentReference } from '../../identity/model.ts';

/** The person the second factor is checked for. */
export interface MfaUser {
  /** Keyward user id (canonical model `User.id`). */
  id: string;
  /** Login name; sent to privacyIDEA as `user` (with the configured realm). */
  username: string;
  /**
   * The user's canonical MFA enrolment references. When any of them is a privacyIDEA token (provider privacyidea,
   * status active), only those serials may satisfy the check: one serial is sent as `serial` (privacyIDEA then
   * also checks it belongs to the user), several are checked against the serial privacyIDEA reports.
   */
  enrollments?: readonly MFAEnrollmentReference[] | undefined;
}

/** One way the user can answer a challenge (privacyIDEA's `multi_challenge` entries). */
export interface MfaChallengeOption {
  serial: string | undefined;
  /** Token type as privacyIDEA names it: sms, email, push, totp, hotp, … */
  type: string | undefined;
  /** Text for the user, e.g. "Enter the OTP from the SMS:". Comes from privacyIDEA: escape it when rendering. */
  message: string;
  /** `interactive`: show a code field; `poll`: wait and poll; `webauthn` / `u2f`: not supported by Keyward yet. */
  clientMode: string;
}

export type MfaRejectReason =
  /** Wrong or replayed code, wrong PIN, unknown transaction, no token. */
  | 'rejected'
  /** The user declined a push request on their phone. */
  | 'declined'
  /** privacyIDEA accepted a token that is not among the user's enrolment references. */
  | 'not_enrolled'
  /** No token of the user can do a challenge (or the authority has no challenges at all). */
  | 'no_challenge';

export type MfaResult =
  | { outcome: 'accept'; serial: string | undefined; tokenType: string | undefined }
  | {
      outcome: 'reject';
      reason: MfaRejectReason;
      serial: string | undefined;
      tokenType: string | undefined;
      /** The authority's own wording ("wrong otp value"), for the audit trail; never for the page (enumeration). */
      authorityMessage: string | undefined;
    }
  | {
      outcome: 'challenge';
      /**
       * Keep it server-side (the interaction's result), never in the page or a URL: privacyIDEA's polling endpoint
       * is unauthenticated, so a leaked transaction id of an answered push is as good as the answer.
       */
      transactionId: string;
      challenges: MfaChallengeOption[];
      /** At least one option wants a code typed in. */
      interactive: boolean;
      /** At least one option is answered out of band (push): poll. */
      poll: boolean;
    };

export type MfaPollResult = Extract<MfaResult, { outcome: 'accept' | 'reject' }> | { outcome: 'pending' };

export interface MfaAuthority {
  readonly kind: 'builtin' | 'privacyidea';
  /** One-shot check of a code (TOTP/HOTP). privacyIDEA may answer with a challenge instead (its PIN rules). */
  check(user: MfaUser, code: string): Promise<MfaResult>;
  /** Starts SMS / e-mail / push challenges for the user. */
  startChallenge(user: MfaUser): Promise<MfaResult>;
  /**
   * Answers a challenge with the code the user typed. `user` is needed because privacyIDEA's /validate/check takes
   * `user` (or `serial`) together with `transaction_id`; may return a further challenge.
   */
  answerChallenge(user: MfaUser, transactionId: string, code: string): Promise<MfaResult>;
  /**
   * Whether an out-of-band challenge (push) has been answered. On "answered" it finalises the authentication
   * (privacyIDEA: /validate/check with an empty pass), so `accept` here is a complete, policy-checked acceptance.
   */
  poll(user: MfaUser, transactionId: string): Promise<MfaPollResult>;
  close(): Promise<void>;
}

export type MfaOperation = 'check' | 'start_challenge' | 'answer_challenge' | 'poll' | 'service_auth';

export type MfaUnavailableReason =
  /** Connection refused or reset, DNS failure, host unreachable. */
  | 'unreachable'
  /** No TCP connection and TLS handshake within connect_timeout_ms. */
  | 'connect_timeout'
  /** No complete answer within timeout_ms. */
  | 'timeout'
  /** Certificate not trusted, wrong host name, client certificate refused. */
  | 'tls'
  /** An HTTP error status without privacyIDEA's error document (e.g. a proxy's 502 page). */
  | 'http_status'
  /** Not JSON, not privacyIDEA's response shape, or an answer that contradicts itself. */
  | 'malformed'
  /** privacyIDEA answered `result.status: false` with `result.error {code, message}` (a server-side error). */
  | 'error_response'
  /** The service account could not obtain an admin token (POST /auth refused). */
  | 'service_auth_failed';

/**
 * The authority could not give an answer. Never carries the code, PIN, password, admin token or transaction id.
 * Stable code for pages, logs and audit: `mfa.authority_unavailable`.
 */
export class MfaAuthorityUnavailableError extends Error {
  readonly code = 'mfa.authority_unavailable';
  readonly authority: 'builtin' | 'privacyidea';
  readonly operation: MfaOperation;
  readonly reason: MfaUnavailableReason;
  readonly httpStatus: number | undefined;
  /** privacyIDEA's `result.error.code` (e.g. 904 user not found, 903 server, 303 policy, -500 internal). */
  readonly authorityErrorCode: number | undefined;
  readonly durationMs: number;

  constructor(opts: {
    authority: 'builtin' | 'privacyidea';
    operation: MfaOperation;
    reason: MfaUnavailableReason;
    detail: string;
    httpStatus?: number | undefined;
    authorityErrorCode?: number | undefined;
    durationMs: number;
  }) {
    super(`${opts.authority} unavailable (${opts.operation}: ${opts.reason}): ${opts.detail}`);
    this.name = 'MfaAuthorityUnavailableError';
    this.authority = opts.authority;
    this.operation = opts.operation;
    this.reason = opts.reason;
    this.httpStatus = opts.httpStatus;
    this.authorityErrorCode = opts.authorityErrorCode;
    this.durationMs = opts.durationMs;
  }
}

/**
 * What an audit / telemetry event for a refused or unavailable second-factor check carries. The lead emits it as
 * IdpTelemetry `authentication_failed` (endpoint `login_mfa`, feature_category `mfa_<authority>`, error_class below)
 * and puts the `mfa` object in the audit record's metadata. Deliberately absent: the code, PIN, admin token,
 * transaction id, and privacyIDEA's free-text error message (it may echo request data).
 */
export interface MfaRefusalEvent {
  event: 'authentication_failed';
  endpoint: 'login_mfa';
  realm: string;
  client_id: string | undefined;
  principal: string;
  source_ip: string | undefined;
  correlation_id: string | undefined;
  /** `rejected`: the authority said no; `failure`: it could not answer (fail closed). */
  result: 'rejected' | 'failure';
  error_class: 'mfa_rejected' | 'mfa_authority_unavailable';
  feature_category: string;
  mfa: {
    authority: 'builtin' | 'privacyidea';
    operation: MfaOperation;
    /** MfaRejectReason or MfaUnavailableReason. */
    reason: string;
    /** Token serial (an enrolment reference, not a secret) when the authority named one. */
    serial: string | undefined;
    token_type: string | undefined;
    http_status: number | undefined;
    authority_error_code: number | undefined;
    duration_ms: number | undefined;
  };
}

export interface MfaEventContext {
  realm: string;
  clientId?: string | undefined;
  user: MfaUser;
  sourceIp?: string | undefined;
  correlationId?: string | undefined;
}

/** Builds the refusal event for a rejection (`outcome` reject) or for an MfaAuthorityUnavailableError. */
export function mfaRefusalEvent(
  ctx: MfaEventContext,
  authority: 'builtin' | 'privacyidea',
  operation: MfaOperation,
  cause: Extract<MfaResult, { outcome: 'reject' }> | MfaAuthorityUnavailableError,
): MfaRefusalEvent {
  const unavailable = cause instanceof MfaAuthorityUnavailableError;
  return {
    event: 'authentication_failed',
    endpoint: 'login_mfa',
    realm: ctx.realm,
    client_id: ctx.clientId,
    principal: ctx.user.id,
    source_ip: ctx.sourceIp,
    correlation_id: ctx.correlationId,
    result: unavailable ? 'failure' : 'rejected',
    error_class: unavailable ? 'mfa_authority_unavailable' : 'mfa_rejected',
    feature_category: `mfa_${authority}`,
    mfa: {
      authority,
      operation: unavailable ? cause.operation : operation,
      reason: cause.reason,
      serial: unavailable ? undefined : cause.serial,
      token_type: unavailable ? undefined : cause.tokenType,
      http_status: unavailable ? cause.httpStatus : undefined,
      authority_error_code: unavailable ? cause.authorityErrorCode : undefined,
      duration_ms: unavailable ? cause.durationMs : undefined,
    },
  };
}

/** The active privacyIDEA serials among a user's canonical enrolment references. */
export function privacyIdeaSerials(user: MfaUser): string[] {
  return (user.enrollments ?? []).filter((e) => e.provider === 'privacyidea' && e.status === 'active' && e.user_id === user.id).map((e) => e.reference);
}
