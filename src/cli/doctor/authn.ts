// JWT or mTLS authentication: not insecure, no long-lived bootstrap token (the production rules say which), at
// least one authenticator that does not rest on a long-lived shared secret, and a running server that refuses a
// request without credentials.
import { AUTHENTICATORS, authenticatorDescriptor, authnMembers, type LeafAuthnConfig } from '../../authn/config.ts';
import { describeNetworkError, probe } from './probe.ts';
import { type CheckFamily, type Finding, ruleFindings } from './types.ts';

const AUTHN_FIX = `authenticate callers with ${AUTHENTICATORS.filter((d) => d.strong).map((d) => `${d.type} (${d.title})`).join(' or ')}`;

function describe(l: LeafAuthnConfig): string {
  switch (l.type) {
    case 'jwt':
      return `jwt (${l.issuer})`;
    case 'mtls':
      return `mtls${l.trust_domains && l.trust_domains.length > 0 ? ` (${l.trust_domains.join(', ')})` : ''}`;
    default:
      return l.type;
  }
}

export const authnCheck: CheckFamily = async (ctx) => {
  const findings: Finding[] = ruleFindings(ctx, 'authn', AUTHN_FIX);
  const authn = ctx.config.authn;
  if (!authn) return [...findings, { status: 'fail', text: 'no authn section', fix: AUTHN_FIX }];
  const leaves = authnMembers(authn).map((m) => m.config);
  const strong = leaves.filter((l) => authenticatorDescriptor(l.type).strong);
  if (strong.length > 0) findings.push({ status: 'pass', text: `${leaves.map(describe).join(', ')}` });
  else findings.push({ status: 'warn', text: `no JWT or mTLS authenticator (${leaves.map(describe).join(', ')})`, fix: AUTHN_FIX });
  for (const l of leaves) {
    if (l.type === 'bootstrap_token') {
      findings.push({ status: 'warn', text: `a bootstrap token is configured (max_age ${l.max_age} s)`, fix: 'remove the bootstrap_token authenticator once the deployment is set up' });
    }
  }

  // The running server must not let an anonymous caller in.
  try {
    const r = await probe(ctx.probe, 'GET', '/v1/keys?limit=1', undefined, false);
    const code = String((r.json as { code?: unknown } | undefined)?.code ?? '');
    if (r.status === 401) findings.push({ status: 'pass', text: `the running server refuses a request without credentials (401 ${code})` });
    else if (r.status >= 200 && r.status < 300) {
      findings.push({ status: 'fail', text: 'the running server lists keys for a request without credentials', fix: AUTHN_FIX });
    } else {
      findings.push({ status: 'warn', text: `a request without credentials got ${r.status} ${code}, not 401`, fix: 'see the server log' });
    }
  } catch (e) {
    findings.push({ status: 'warn', text: `the running server was not probed: ${describeNetworkError(e)}`, fix: 'check that the server runs and --url reaches it' });
  }
  return findings;
};
