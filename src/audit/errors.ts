// The one audit-unavailable problem: whoever finds the trail unable to record (the trail itself, or a service
// checking up front) refuses with it.
import { ProblemError } from '../core/problem.ts';

export const auditUnavailable = (detail: string) => new ProblemError({ code: 'audit.unavailable', detail });
