// Scope claims come as a space-separated string, an array, or an object whose keys are the scopes
// (Zitadel). scope_map renames IdP names to permissions; unmapped names pass through.
export function scopesFromClaim(claim: unknown): string[] {
  if (typeof claim === 'string') return claim.split(/\s+/).filter((s) => s !== '');
  if (Array.isArray(claim)) return claim.filter((s): s is string => typeof s === 'string' && s !== '');
  if (claim && typeof claim === 'object') return Object.keys(claim);
  return [];
}

export function applyScopeMap(scopes: string[], map: Record<string, string | string[]>): string[] {
  const out = new Set<string>();
  for (const s of scopes) {
    const m = Object.hasOwn(map, s) ? map[s] : undefined;
    if (m === undefined) out.add(s);
    else for (const p of Array.isArray(m) ? m : [m]) out.add(p);
  }
  return [...out];
}

export function permissionsClaim(claim: unknown): string[] {
  return Array.isArray(claim) ? claim.filter((s): s is string => typeof s === 'string' && s !== '') : [];
}
