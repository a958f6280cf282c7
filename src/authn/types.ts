// The authentication stage: credentials in, a Principal out. Authenticators never see the route's business.
import type { IncomingHttpHeaders } from 'node:http';
import type { PeerCertificate } from 'node:tls';

export type PrincipalType = 'user' | 'service' | 'anonymous';

export interface Principal {
  id: string;
  type: PrincipalType;
  /** Which authenticator vouched for it: jwt, api_key, mtls, bootstrap_token, forwarded_identity, insecure. */
  authMethod: string;
  /** Permission strings (the grammar in src/authz/permissions.ts), possibly with wildcards and `-` denies. */
  permissions: string[];
  /** Non-secret attributes the PDP may use (client id, groups, trust domain, mfa...). */
  attributes: Record<string, unknown>;
}

/** What an authenticator may look at; built from the HTTP request by the server, nothing else. */
export interface AuthnRequest {
  headers: IncomingHttpHeaders;
  sourceIp: string;
  /** The verified peer certificate when the connection is mTLS and the client presented one. */
  peerCertificate?: PeerCertificate | undefined;
  /** True when the TLS layer verified the client certificate against the configured CA. */
  peerAuthorized?: boolean | undefined;
  /** The request's id, for the rare event an authenticator records itself. */
  requestId?: string | undefined;
}

/**
 * `undefined` means "not my kind of credential" (a chain moves on); a ProblemError means the credential
 * was recognised but is invalid, which fails the request.
 */
export interface Authenticator {
  readonly name: string;
  /** JWT authenticators: the issuer they accept, so a chain can route tokens of several issuers. */
  readonly issuer?: string | undefined;
  authenticate(req: AuthnRequest): Promise<Principal | undefined>;
  /** Live reload (SIGHUP, POST /v1/sys/reload); optional. */
  reload?(): Promise<void>;
  close?(): Promise<void>;
}
