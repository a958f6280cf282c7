import { ProblemError } from '../core/problem.ts';

export const pdpUnavailable = (detail: string) =>
  new ProblemError({ status: 503, code: 'authz.pdp_unavailable', title: 'Policy decision point unavailable', detail, headers: { 'retry-after': '5' } });

export const scopeDenied = (permission: string, deniedBy?: string) =>
  new ProblemError({
    status: 403,
    code: 'auth.scope_denied',
    title: 'Insufficient permission',
    detail: deniedBy ? `permission ${permission} is denied by grant ${deniedBy}` : `missing permission ${permission}`,
    extra: { required_permission: permission },
  });

export const authzDenied = (action: string) =>
  new ProblemError({ status: 403, code: 'authz.denied', title: 'Forbidden', detail: `the policy decision point denied ${action}` });
