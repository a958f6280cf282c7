import type { Principal } from './types.ts';

/** Who asks and from where; carried into audit events. Not HTTP: any caller (CLI, IdP, routes) builds one. */
export interface OperationContext {
  principal: Principal | null;
  requestId: string;
  sourceIp?: string | undefined;
  userAgent?: string | undefined;
  /**
   * Set only by Keyward's own components (the identity provider, the release sweeper), never from a request: the
   * component acting, on its own account or on the principal's behalf. Only a component may use system keys.
   */
  component?: string | undefined;
}
