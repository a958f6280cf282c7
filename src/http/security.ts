// What a route declares about its callers, read by the authentication and authorization stages (src/authn/hook.ts,
// src/authz/hook.ts): public, or the actions the caller must be allowed. Handlers never check credentials.
import type { FastifyRequest } from 'fastify';
import type { Action } from '../core/actions.ts';

export interface AuthzTarget {
  action: Action;
  keyId?: string | undefined;
  /** create/import replacing an existing key needs the overwrite permission as well. */
  overwrite?: boolean | undefined;
}

export interface RouteSecurity {
  /** No credentials needed (health, metrics, discovery documents). */
  public?: boolean;
  /** What the caller must be allowed to do; evaluated after validation. */
  authz?: (req: FastifyRequest) => AuthzTarget[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    security?: RouteSecurity;
  }
}

/** Who called, independent of the transport: what the stages and audit events need from a request. */
export interface CallInfo {
  requestId: string;
  sourceIp: string;
  userAgent?: string | undefined;
}

export const userAgent = (req: FastifyRequest) => {
  const ua = req.headers['user-agent'];
  return typeof ua === 'string' ? ua.slice(0, 256) : undefined;
};

export const callInfo = (req: FastifyRequest): CallInfo => ({ requestId: req.id, sourceIp: req.ip, userAgent: userAgent(req) });

/** Whether a header appears more than once (Node keeps the first; a proxy may act on another). */
export function repeatedHeader(raw: string[], name: string): boolean {
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}
