// What a migration cannot carry over, in both directions (KeyCape specification §14.4 "incompatibility reports"):
// things in the source the target cannot express, behaviour that differs after the move, and features the target
// offers that the profile forbids (and how the export keeps them off). Every entry names who or what it is about
// and what an operator must do; codes are stable so CI can allow-list known ones.

export type IncompatibilityDirection =
  /** Present in the source; the target has no way to express it (or not from the data at hand). */
  | 'source_not_expressible'
  /** Carried over, but the target behaves differently. */
  | 'behaviour_differs'
  /** A target feature the NetKingdom profile forbids: what the export sets to keep it off, or what stays open. */
  | 'target_forbidden_by_profile';

export type IncompatibilitySeverity =
  /** Applications or users relying on it stop working until an operator acts. */
  | 'blocking'
  /** Works, differently or with less guarantee; review. */
  | 'degraded'
  /** Recorded for completeness (handled by the export, or an explicit decision). */
  | 'info';

export interface Incompatibility {
  code: string;
  direction: IncompatibilityDirection;
  severity: IncompatibilitySeverity;
  /** What it is about: `realm`, `claim assurance`, `client portal`, `user alice`, `feature implicit_grant`. */
  subject: string;
  message: string;
  /** What the operator does about it (empty when nothing is needed). */
  action: string;
}

export const SEVERITY_ORDER: Record<IncompatibilitySeverity, number> = { blocking: 0, degraded: 1, info: 2 };

export function sortIncompatibilities(list: Incompatibility[]): Incompatibility[] {
  return [...list].sort(
    (a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.direction.localeCompare(b.direction) || a.code.localeCompare(b.code) || a.subject.localeCompare(b.subject),
  );
}
