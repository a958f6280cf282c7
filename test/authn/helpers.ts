// Test helpers for authn/authz: a quiet logger that records lines, a movable clock, and a real IdP
// (discovery + JWKS over node:http on 127.0.0.1) with jose keys.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { pino, type Logger } from 'pino';

export function testLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export function movableClock(start = new Date('2030-01-01T00:00:00Z')) {
  let t = start.getTime();
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms), set: (d: Date) => void (t = d.getTime()) };
}

type Priv = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface Idp {
  issuer: string;
  jwksUrl: string;
  discoveryUrl: string;
  jwksHits: number;
  /** 'up' serves JWKS; 'error' answers 500; 'hang' never answers. */
  state: 'up' | 'error' | 'hang';
  addKey(kid: string, alg?: string): Promise<void>;
  removeKey(kid: string): void;
  sign(claims: JWTPayload, opts?: { kid?: string; alg?: string; typ?: string | null; header?: Record<string, unknown> }): Promise<string>;
  publicJwk(kid: string): JWK;
  close(): Promise<void>;
}

export async function startIdp(): Promise<Idp> {
  const priv = new Map<string, { key: Priv; alg: string }>();
  const pub = new Map<string, JWK>();
  const pending = new Set<http.ServerResponse>();
  const idp = { jwksHits: 0, state: 'up' } as Idp;
  const server = http.createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ issuer: idp.issuer, jwks_uri: idp.jwksUrl }));
    }
    if (req.url === '/jwks') {
      idp.jwksHits++;
      if (idp.state === 'hang') return void pending.add(res);
      if (idp.state === 'error') return void res.writeHead(500).end('down');
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ keys: [...pub.values()] }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(idp, {
    issuer: base,
    jwksUrl: `${base}/jwks`,
    discoveryUrl: `${base}/.well-known/openid-configuration`,
    async addKey(kid: string, alg = 'RS256') {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
      priv.set(kid, { key: privateKey, alg });
      pub.set(kid, { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
    },
    removeKey(kid: string) {
      pub.delete(kid);
    },
    publicJwk: (kid: string) => pub.get(kid)!,
    async sign(claims: JWTPayload, o: { kid?: string; alg?: string; typ?: string | null; header?: Record<string, unknown> } = {}) {
      const kid = o.kid ?? [...priv.keys()][0]!;
      const k = priv.get(kid)!;
      const header: Record<string, unknown> = { alg: o.alg ?? k.alg, kid, ...(o.typ === null ? {} : { typ: o.typ ?? 'at+jwt' }), ...o.header };
      return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(k.key);
    },
    async close() {
      for (const r of pending) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
  return idp;
}

export const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

export async function rejectsWith(p: Promise<unknown>, code: string, status?: number): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: string; status?: number };
    if (e.code !== code) throw new Error(`expected ${code}, got ${e.code ?? String(err)}`);
    if (status !== undefined && e.status !== status) throw new Error(`expected status ${status}, got ${e.status}`);
    return err as Record<string, unknown>;
  }
  throw new Error(`expected ${code}, but it resolved`);
}
