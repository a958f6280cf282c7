// Which client a request names, before (or without) authenticating it: for telemetry attribution, and for refusing
// early what the named client could not do anyway (never for granting anything).

function basicClientId(authorization: string | undefined): string | undefined {
  if (!authorization?.toLowerCase().startsWith('basic ')) return undefined;
  const raw = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const i = raw.indexOf(':');
  if (i < 1) return undefined;
  try {
    return decodeURIComponent(raw.slice(0, i).replace(/\+/g, '%20'));
  } catch {
    return undefined;
  }
}

function assertionClientId(assertion: string | undefined): string | undefined {
  if (!assertion) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return typeof payload.sub === 'string' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

/** The client a request names, authenticated or not (never a basis for granting anything). */
export function namedClientId(authorization: string | undefined, params: Record<string, string | undefined>): string | undefined {
  return basicClientId(authorization) ?? params.client_id ?? assertionClientId(params.client_assertion);
}
