// Where a realm's users come from. The sign-in pages and the provider ask a UserDirectory, never a table or a
// server directly: the built-in directory (Keyward's own tables) or an LDAP server (LLDAP's layout). Clients, roles,
// group→role bindings and MFA enrolments are Keyward's data whatever the directory: they stay in the built-in
// tables, keyed by the user's stable id.
import { PROBLEM_CODES } from '../../core/problem-codes.ts';
import { ProblemError, type ProblemCode } from '../../core/problem.ts';

export type PrincipalType = 'human' | 'service' | 'agent';

/** A user as the provider sees it: never a password or a password hash. */
export interface DirectoryUser {
  /** Stable identifier, the `sub` of every token (the canonical model's user id; employeeNumber in LDAP). */
  id: string;
  username: string;
  displayName: string | null;
  /** OIDC given_name / family_name (profile scope); null when the directory holds none. */
  givenName: string | null;
  familyName: string | null;
  email: string | null;
  emailVerified: boolean;
  enabled: boolean;
  principalType: PrincipalType;
  tenant: string;
  /** Group names, sorted. */
  groups: string[];
  /** Roles held directly (group roles are added from the realm's group→role bindings). */
  roles: string[];
}

export interface UserDirectory {
  /** The `type` of the realm's `directory` configuration. */
  readonly kind: string;
  /** Where users come from, for logs and messages (never a credential). */
  readonly description: string;
  /** The user with this stable id; undefined when there is none. Throws `idp.directory_unavailable`. */
  getUser(id: string): Promise<DirectoryUser | undefined>;
  /**
   * The user these credentials belong to, or undefined when the username is unknown or the password wrong (the
   * caller cannot tell which). A disabled user with the right password is returned (enabled: false), so the caller
   * refuses with the same neutral message. Throws `idp.directory_unavailable` when the answer cannot be known.
   */
  authenticate(username: string, password: string): Promise<DirectoryUser | undefined>;
  /** Releases connections; safe to call twice. */
  close(): Promise<void>;
}

export const DIRECTORY_UNAVAILABLE = 'idp.directory_unavailable' satisfies ProblemCode;
/** Error class and reason of the telemetry event (an authentication_failed) when the directory is down. */
export const DIRECTORY_UNAVAILABLE_CLASS = 'directory_unavailable';
/** Seconds a client is asked to wait before trying again while the directory is down. */
export const DIRECTORY_RETRY_AFTER = String(PROBLEM_CODES[DIRECTORY_UNAVAILABLE].retryAfter);

/**
 * The directory cannot answer (unreachable, timing out, refusing Keyward's own bind). Sign-in stops with a 503: a
 * realm never falls back to another source of users. `reason` is for the operator's log only (never in a response
 * body, never a credential).
 */
export class DirectoryUnavailableError extends ProblemError {
  readonly directory: string;
  readonly reason: string;
  constructor(directory: string, reason: string) {
    super({
      code: DIRECTORY_UNAVAILABLE,
      detail: 'the user directory is unavailable; sign-in is not possible until it answers again',
    });
    this.directory = directory;
    this.reason = reason;
  }
}

export const isDirectoryUnavailable = (e: unknown): e is DirectoryUnavailableError => e instanceof DirectoryUnavailableError;

/**
 * The OAuth error a token, userinfo or authorization request gets while the directory is down (with status 503 and
 * Retry-After): RFC 6749's temporarily_unavailable, plus Keyward's stable code.
 */
export function directoryUnavailableBody(correlationId?: string) {
  return {
    error: 'temporarily_unavailable',
    error_description: 'the user directory is unavailable; try again shortly',
    code: DIRECTORY_UNAVAILABLE,
    ...(correlationId ? { correlation_id: correlationId } : {}),
  };
}
