// Key custody: an HSM provider (PKCS#11 or KMIP) for production keys, and a key cache whose TTL stays within the
// operator's HYOK lockout bound (the cache TTL is the longest a revoked or disabled key keeps working on an instance
// that has not heard of the change).
import { type CheckFamily, type Finding, ruleFindings } from './types.ts';

const HSM_TYPES = new Set(['pkcs11', 'kmip']);
const HSM_FIX = 'configure a PKCS#11 or KMIP key provider (keys.providers) and create production keys in it';

export const hsmCheck: CheckFamily = async (ctx) => {
  // The production rules already warn when no HSM provider is configured; their line is the finding then.
  const findings = ruleFindings(ctx, 'hsm', HSM_FIX);
  const providers = ctx.config.keys.providers as Record<string, unknown>;
  const hsm = Object.keys(providers).filter((k) => HSM_TYPES.has(k) && providers[k] !== undefined);
  if (hsm.length > 0) findings.push({ status: 'pass', text: `key provider(s): ${hsm.join(', ')} (default ${ctx.config.keys.default_provider})` });
  else if (findings.length === 0) findings.push({ status: 'warn', text: 'no HSM provider: keys are software keys sealed under the root key', fix: HSM_FIX });
  const sealType = ctx.config.seal.type;
  if (HSM_TYPES.has(sealType)) findings.push({ status: 'pass', text: `auto-unseal through ${sealType}` });
  return findings;
};

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

export const cacheTtlCheck: CheckFamily = async (ctx) => {
  const findings: Finding[] = ruleFindings(ctx, 'cache_ttl', 'lower keys.cache_ttl');
  const ttl = ctx.config.keys.cache_ttl;
  const bound = ctx.hyokLockoutMs;
  if (bound === undefined) {
    findings.push({ status: 'warn', text: `keys.cache_ttl is ${seconds(ttl)} (how long a revoked or disabled key may keep working); no lockout bound given`, fix: 'pass --hyok-lockout SECONDS, your bound on that time' });
  } else if (ttl <= bound) {
    findings.push({ status: 'pass', text: `keys.cache_ttl ${seconds(ttl)} is within the HYOK lockout bound of ${seconds(bound)}` });
  } else {
    findings.push({ status: 'fail', text: `keys.cache_ttl ${seconds(ttl)} exceeds the HYOK lockout bound of ${seconds(bound)}: a revoked key may keep working that long`, fix: `set keys.cache_ttl to ${seconds(bound)} or less` });
  }
  return findings;
};
