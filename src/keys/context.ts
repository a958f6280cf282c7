import type { Principal } from '../authn/types.ts';

/** Who asks and from where; carried into audit events. Not HTTP: any caller (CLI, IdP, routes) builds one. */
export interface OperationContext {
  principal: Principal | null;
  requestId: string;
  sourceIp?: string | undefined;
  userAgent?: string | undefined;
}
