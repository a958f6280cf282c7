import { ProblemError } from '../core/problem.ts';

export const pdpUnavailable = (detail: string) =>
  new ProblemError({ code: 'authz.pdp_unavailable', detail });

export const scopeDenied = (permission: string, deniedBy?: string) =>
  new ProblemError({
    code: 'auth.scope_denied',
    detail: deniedBy ? `permission ${permission} is denied by grant ${deniedBy}` : `missing permission ${permission}`,
    extra: { required_permission: permission },
  });

export const authzDenied = (action: string) =>
  new ProblemError({ code: 'authz.denied', detail: `the policy decision point denied ${action}` });
