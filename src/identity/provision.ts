// Provisioning canonical documents into a directory. One flow for every target: validate the document (the
// identity rules, then the target's own, e.g. the canonical LDAP schema), refuse it on any error, otherwise let the
// target plan the difference and, unless this is a dry run, write it.
//
// Targets: an LDAP server (ldap://, ldaps://) here; Keyward's built-in directory (the identity provider's realm
// tables) in src/idp/realm-document.ts, which needs the server's configuration and store, so the caller opens it.
import type { Finding } from './findings.ts';
import type { IdentityDocument } from './model.ts';
import { ProblemError } from '../core/problem.ts';
import { validateIdentityDocument } from './validate.ts';
import { readDirectory, withDirectory, type DirectoryOptions } from './ldap/directory.ts';
import { identityToEntries } from './ldap/mapping.ts';
import { fixtureFindings } from './ldap/modes.ts';
import { applyLdapPlan, describeStep, planLdapProvision, type LdapPlanStep } from './ldap/provision.ts';
import { liveSourceName } from './ldap/sources.ts';

export interface ProvisionResult {
  /** What the target holds or will hold, one line per entity, in the target's own terms. */
  lines: string[];
  /** How many entities were (or, on a dry run, would be) created or changed. */
  changed: number;
}

export interface ProvisionTarget {
  /** How findings and messages name the target. */
  readonly name: string;
  /** The target's own rules beyond the identity model's (a valid document the target still cannot hold). */
  check(doc: IdentityDocument, source: string): Finding[];
  /** Plans and, unless dryRun, writes. Must be idempotent. */
  apply(doc: IdentityDocument, opts: { dryRun: boolean }): Promise<ProvisionResult>;
}

export interface LdapTargetOptions extends DirectoryOptions {
  baseDn: string;
}

export function ldapProvisionTarget(opts: LdapTargetOptions): ProvisionTarget {
  return {
    name: liveSourceName(opts.url, opts.baseDn),
    check: (doc, source) => fixtureFindings(doc, source, opts.baseDn),
    apply: (doc, { dryRun }) =>
      withDirectory(opts, async (client) => {
        const current = await readDirectory(client, opts.baseDn);
        const plan: LdapPlanStep[] = planLdapProvision(identityToEntries(doc, opts.baseDn), current, opts.baseDn);
        // A dry run shows conflicts as lines; a real run refuses them before its first write.
        if (!dryRun) await applyLdapPlan(client, plan);
        return { lines: plan.flatMap(describeStep), changed: plan.filter((s) => s.action === 'add' || s.action === 'modify').length };
      }),
  };
}

/** `--to` of `keyward identity provision`: `builtin` (opened by the caller), ldap://HOST:PORT or ldaps://HOST:PORT. */
export function resolveProvisionTarget(to: string, targets: { ldap: (url: string) => LdapTargetOptions; builtin: () => ProvisionTarget }): ProvisionTarget {
  if (to === 'builtin') return targets.builtin();
  if (/^ldaps?:\/\//i.test(to)) return ldapProvisionTarget(targets.ldap(to));
  throw new ProblemError({ code: 'identity.provision_target_invalid', detail: '--to is builtin, ldap://HOST:PORT or ldaps://HOST:PORT' });
}

export interface ProvisionOutcome {
  /** Identity and target findings; when any is an error nothing was written. */
  findings: Finding[];
  result?: ProvisionResult;
}

/** Validates, then provisions. Refuses (returns the findings, writes nothing) when the validators reject the input. */
export async function provisionDocument(data: unknown, source: string, target: ProvisionTarget, opts: { dryRun: boolean }): Promise<ProvisionOutcome> {
  const findings = validateIdentityDocument(data, source);
  if (findings.some((f) => f.severity === 'error')) return { findings };
  const doc = data as IdentityDocument;
  findings.push(...target.check(doc, source));
  if (findings.some((f) => f.severity === 'error')) return { findings };
  return { findings, result: await target.apply(doc, opts) };
}
