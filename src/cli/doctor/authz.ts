// The policy decision point, with fail-closed behaviour verified rather than assumed. The probe is a request the
// policies must deny: a principal nobody has seen (a fresh random id), holding no grants, asking to destroy a key
// that does not exist and to seal the server. It is only ever evaluated, never executed:
// - the configured PDP is built here, as the server builds it (embedded Cedar: the same policy files; HTTP: the
//   same endpoint and TLS files), and asked; a permit means the policies are not default-deny;
// - an HTTP PDP's client is also pointed at an address where nothing listens and must refuse with 503
//   authz.pdp_unavailable (an unreachable PDP denies, never allows);
// - the running server is asked through POST /v1/authz/explain (a what-if for the synthetic principal), which
//   consults the PDP it actually runs: the answer must be a deny, and an unreachable PDP shows up as 503.
// What this proves: the PDP answers, denies by default, and its absence refuses. It cannot prove that every
// policy is right; that is what policy tests are for.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import pino from 'pino';
import type { Principal } from '../../authn/types.ts';
import type { PdpConfig } from '../../authz/config.ts';
import { createPdp, permissionFor } from '../../authz/index.ts';
import type { AuthzRequest, Pdp } from '../../authz/types.ts';
import { isProblem } from '../../core/problem.ts';
import { describeNetworkError, probe, type ProbeResponse } from './probe.ts';
import { type CheckFamily, type DoctorContext, type Finding, ruleFindings } from './types.ts';

const PDP_FIX = 'configure authz.pdp as cedar (embedded) or http (external) with default-deny policies';

interface Probe {
  action: 'kms:DestroyKey' | 'sys:Seal';
  keyId?: string;
}

function probes(): { principalId: string; list: Probe[] } {
  return {
    principalId: `keyward-doctor-probe-${randomUUID()}`,
    list: [{ action: 'kms:DestroyKey', keyId: `keyward-doctor-probe-${randomBytes(6).toString('hex')}` }, { action: 'sys:Seal' }],
  };
}

function requestFor(ctx: DoctorContext, principalId: string, p: Probe): AuthzRequest {
  const principal: Principal = { id: principalId, type: 'service', authMethod: 'doctor', permissions: [], attributes: {} };
  return {
    requestId: randomUUID(),
    action: p.action,
    permission: permissionFor(ctx.config.authz.permission_prefix, p.action, p.keyId),
    principal,
    resource: p.keyId !== undefined ? { type: 'Key', id: p.keyId, attributes: {} } : { type: 'System', id: 'system', attributes: {} },
    context: { source_ip: '127.0.0.1', user_agent: 'keyward-doctor', request_time: new Date().toISOString(), auth_method: 'doctor', mfa_authenticated: false },
  };
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

/** Asks `pdp` every probe; a finding per outcome. */
async function ask(ctx: DoctorContext, pdp: Pdp, what: string): Promise<Finding[]> {
  const { principalId, list } = probes();
  const permitted: string[] = [];
  for (const p of list) {
    try {
      const d = await pdp.decide(requestFor(ctx, principalId, p));
      if (d.allowed) permitted.push(`${p.action}${d.reasons.length > 0 ? ` (by ${d.reasons.join(', ')})` : ''}`);
    } catch (e) {
      if (isProblem(e) && e.code === 'authz.pdp_unavailable') {
        return [{ status: 'fail', text: `${what} is unavailable: ${e.detail ?? e.code} (every request is refused meanwhile)`, fix: 'bring the PDP up, or fix authz.pdp.endpoint and its TLS files' }];
      }
      return [{ status: 'fail', text: `${what} failed: ${(e as Error).message}`, fix: PDP_FIX }];
    }
  }
  if (permitted.length > 0) {
    return [{ status: 'fail', text: `${what} permits ${permitted.join(' and ')} to an unknown principal with no grants: its policies are not default-deny`, fix: 'remove the policy that permits everyone; permit named principals or groups only' }];
  }
  return [{ status: 'pass', text: `${what} denies an unknown principal with no grants (kms:DestroyKey, sys:Seal)` }];
}

/** The configured PDP, built and asked in this process. */
async function localFindings(ctx: DoctorContext, cfg: PdpConfig): Promise<Finding[]> {
  const logger = pino({ level: 'silent' });
  // No file watching here: one decision and done.
  const authz = { ...ctx.config.authz, pdp: cfg.type === 'cedar' ? { ...cfg, watch: false } : cfg };
  let pdp: Pdp;
  try {
    pdp = await createPdp(authz, { logger });
  } catch (e) {
    return [{ status: 'fail', text: `the configured PDP cannot be built: ${(e as Error).message}`, fix: PDP_FIX }];
  }
  try {
    const what = cfg.type === 'cedar' ? `embedded Cedar (${cfg.policies_path})` : cfg.type === 'http' ? `HTTP PDP ${cfg.endpoint}` : `${cfg.type} PDP`;
    return await ask(ctx, pdp, what);
  } finally {
    await pdp.close?.();
  }
}

/** An HTTP PDP with the configured options, pointed at a closed port: it must refuse, not allow. */
async function unreachableFindings(ctx: DoctorContext, cfg: Extract<PdpConfig, { type: 'http' }>): Promise<Finding[]> {
  const url = new URL(cfg.endpoint);
  url.hostname = '127.0.0.1';
  url.port = String(await closedPort());
  const pdp = await createPdp({ ...ctx.config.authz, pdp: { ...cfg, endpoint: url.toString() } }, { logger: pino({ level: 'silent' }) });
  try {
    const { principalId, list } = probes();
    await pdp.decide(requestFor(ctx, principalId, list[0]!));
    return [{ status: 'fail', text: 'an unreachable HTTP PDP was answered with a decision instead of a refusal', fix: PDP_FIX }];
  } catch (e) {
    if (isProblem(e) && e.code === 'authz.pdp_unavailable' && e.status === 503) {
      return [{ status: 'pass', text: 'an unreachable HTTP PDP is refused with 503 authz.pdp_unavailable (fail closed)' }];
    }
    return [{ status: 'fail', text: `an unreachable HTTP PDP ended in ${(e as Error).message}, not 503 authz.pdp_unavailable`, fix: PDP_FIX }];
  } finally {
    await pdp.close?.();
  }
}

/** The running server's PDP, through POST /v1/authz/explain. */
async function serverFindings(ctx: DoctorContext): Promise<Finding[]> {
  if (!ctx.probe.token) {
    return [{ status: 'warn', text: 'the running server\'s PDP was not probed (no --token)', fix: 'pass --token (or KEYWARD_TOKEN) with a credential granted authz:Explain' }];
  }
  const { principalId, list } = probes();
  const permitted: string[] = [];
  let pdpName = '';
  for (const p of list) {
    const body = { action: p.action, ...(p.keyId ? { key_id: p.keyId } : {}), principal: { id: principalId, type: 'service', permissions: [] } };
    let r: ProbeResponse;
    try {
      r = await probe(ctx.probe, 'POST', '/v1/authz/explain', body, true);
    } catch (e) {
      return [{ status: 'fail', text: `POST /v1/authz/explain failed: ${describeNetworkError(e)}`, fix: 'check that the server runs and --url reaches it' }];
    }
    const json = (r.json ?? {}) as { allowed?: unknown; pdp?: unknown; code?: unknown; matched?: unknown };
    if (r.status === 503 && json.code === 'authz.pdp_unavailable') {
      return [{ status: 'fail', text: 'the running server cannot reach its PDP (503 authz.pdp_unavailable: it refuses every request meanwhile)', fix: 'bring the PDP up, or fix authz.pdp.endpoint' }];
    }
    if (r.status === 401 || r.status === 403) {
      return [{ status: 'warn', text: `the running server's PDP was not probed: the credential was refused (${r.status} ${String(json.code ?? '')})`, fix: 'pass a --token granted authz:Explain' }];
    }
    if (r.status !== 200 || typeof json.allowed !== 'boolean') {
      return [{ status: 'fail', text: `POST /v1/authz/explain answered ${r.status} ${String(json.code ?? '')}`.trim(), fix: 'see the server log' }];
    }
    pdpName = String(json.pdp);
    if (json.allowed) permitted.push(p.action);
  }
  const findings: Finding[] = [];
  if (permitted.length > 0) {
    findings.push({ status: 'fail', text: `the running server's PDP (${pdpName}) permits ${permitted.join(' and ')} to an unknown principal with no grants`, fix: 'remove the policy that permits everyone' });
  } else {
    findings.push({ status: 'pass', text: `the running server's PDP (${pdpName}) denies the same probe` });
  }
  if (pdpName !== ctx.config.authz.pdp.type) {
    findings.push({ status: 'warn', text: `the running server uses the ${pdpName} PDP, this configuration the ${ctx.config.authz.pdp.type} PDP`, fix: 'check that the server runs with this configuration' });
  }
  return findings;
}

export const pdpCheck: CheckFamily = async (ctx) => {
  const cfg = ctx.config.authz.pdp;
  const findings = ruleFindings(ctx, 'pdp', PDP_FIX);
  switch (cfg.type) {
    case 'builtin':
      findings.push({ status: 'warn', text: 'builtin PDP: decisions follow each credential\'s grants, with no policy engine', fix: PDP_FIX });
      break;
    case 'cedar':
      findings.push(...(await localFindings(ctx, cfg)));
      break;
    case 'http':
      findings.push(...(await localFindings(ctx, cfg)), ...(await unreachableFindings(ctx, cfg)));
      if (cfg.timeout_ms > 10_000) findings.push({ status: 'warn', text: `authz.pdp.timeout_ms ${cfg.timeout_ms}: a hung PDP holds every caller that long before the refusal`, fix: 'lower authz.pdp.timeout_ms' });
      break;
    default:
      // A PDP kind the doctor knows nothing more about is still built and asked the default-deny probe.
      findings.push(...(await localFindings(ctx, cfg)));
  }
  findings.push(...(await serverFindings(ctx)));
  return findings;
};
