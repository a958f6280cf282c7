// TLS on every listener, /metrics, /healthz and /readyz: the configuration's certificates, and what the running
// deployment presents and answers.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { describeNetworkError } from './probe.ts';
import { type CheckFamily, type DoctorContext, type Finding, isLoopback, ruleFindings } from './types.ts';

const DAY = 86_400_000;
const TLS_FIX = 'configure server.tls (cert_file, key_file) with a certificate for the name clients use';

interface TlsFiles {
  cert_file: string;
  key_file: string;
}

/** The certificate and key files of a listener: present, a pair, valid now and for a while. */
function certificateFindings(where: string, files: TlsFiles, now: number): { findings: Finding[]; cert?: X509Certificate } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(files.cert_file));
  } catch (e) {
    return { findings: [{ status: 'fail', text: `${where}: ${files.cert_file} is not a readable PEM certificate (${(e as Error).message})`, fix: TLS_FIX }] };
  }
  const findings: Finding[] = [];
  try {
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(files.key_file)))) {
      findings.push({ status: 'fail', text: `${where}: ${files.key_file} is not the key of ${files.cert_file}`, fix: 'configure the key that belongs to the certificate' });
    }
  } catch (e) {
    findings.push({ status: 'fail', text: `${where}: ${files.key_file} is not a readable private key (${(e as Error).message})`, fix: TLS_FIX });
  }
  const notAfter = Date.parse(cert.validTo);
  const notBefore = Date.parse(cert.validFrom);
  if (notAfter < now) findings.push({ status: 'fail', text: `${where}: the certificate expired on ${cert.validTo}`, fix: 'renew the certificate' });
  else if (notBefore > now) findings.push({ status: 'fail', text: `${where}: the certificate is not valid before ${cert.validFrom}`, fix: 'check the clock, or the certificate' });
  else if (notAfter - now < 14 * DAY) findings.push({ status: 'warn', text: `${where}: the certificate expires in ${Math.max(0, Math.floor((notAfter - now) / DAY))} day(s) (${cert.validTo})`, fix: 'renew the certificate' });
  if (findings.length === 0) findings.push({ status: 'pass', text: `${where}: certificate ${cert.subject.replace(/\n/g, ', ')} and its key, valid until ${cert.validTo}` });
  return { findings, cert };
}

/** A TLS handshake with host:port (ALPN h2, as gRPC clients do); resolves with the protocol, rejects otherwise. */
function handshake(host: string, port: number, ctx: DoctorContext): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host,
      port,
      servername: /^[\d.]+$|:/.test(host) ? undefined : host,
      ALPNProtocols: ['h2'],
      ...(ctx.probe.ca ? { ca: ctx.probe.ca } : {}),
      ...(ctx.probe.cert ? { cert: ctx.probe.cert } : {}),
      ...(ctx.probe.key ? { key: ctx.probe.key } : {}),
      timeout: ctx.probe.timeoutMs,
    });
    s.once('secureConnect', () => {
      const proto = s.getProtocol() ?? 'TLS';
      s.destroy();
      resolve(proto);
    });
    s.once('timeout', () => (s.destroy(), reject(new Error('no TLS handshake in time'))));
    s.once('error', reject);
  });
}

export const tlsCheck: CheckFamily = async (ctx) => {
  const findings = ruleFindings(ctx, 'tls', TLS_FIX).filter((f) => f.status === 'fail');
  const now = Date.now();
  const { server } = ctx.config;
  let configured: X509Certificate | undefined;
  if (server.tls) {
    const c = certificateFindings('REST listener', server.tls, now);
    findings.push(...c.findings);
    configured = c.cert;
  } else if (isLoopback(server.host)) {
    findings.push({ status: 'warn', text: `REST listener ${server.host}:${server.port} is plain HTTP on loopback: only a TLS-terminating proxy on this machine may front it`, fix: TLS_FIX });
  } else {
    findings.push({ status: 'fail', text: `REST listener ${server.host}:${server.port} serves plain HTTP`, fix: TLS_FIX });
  }

  // What the deployment itself presents.
  const url = new URL(ctx.probe.url);
  if (url.protocol !== 'https:') {
    findings.push({ status: isLoopback(url.hostname) && !server.tls ? 'warn' : 'fail', text: `${ctx.probe.url} answers plain HTTP`, fix: server.tls ? 'probe the https:// address clients use (--url)' : TLS_FIX });
  } else {
    try {
      const r = await ctx.get('/healthz');
      const peer = r.peerCertificate;
      findings.push({ status: 'pass', text: `${url.host} presents a trusted certificate${peer ? ` (${peer.subject.replace(/\n/g, ', ')}, valid until ${peer.validTo})` : ''}` });
      if (peer && configured && peer.fingerprint256 !== configured.fingerprint256) {
        findings.push({ status: 'warn', text: `${url.host} presents another certificate than server.tls.cert_file (a proxy in front, or a stale process?)`, fix: 'make sure the running server uses this configuration' });
      }
    } catch (e) {
      findings.push({ status: 'fail', text: `TLS with ${url.host} failed: ${describeNetworkError(e)}`, fix: 'give the CA that signed the server certificate with --ca FILE, or fix the certificate the server presents' });
    }
  }

  // server.grpc serves with server.tls (checked above), so what is left is the port itself: a TLS handshake there.
  const grpc = server.grpc;
  if (grpc) {
    const host = grpc.host ?? server.host;
    const where = `gRPC listener ${host}:${grpc.port}`;
    if (!server.tls) {
      findings.push({ status: isLoopback(host) ? 'warn' : 'fail', text: `${where} serves plaintext${isLoopback(host) ? ' on loopback: only a TLS-terminating proxy on this machine may front it' : ''}`, fix: `${TLS_FIX} (it applies to gRPC too)` });
    } else {
      const target = host === '0.0.0.0' || host === '::' ? url.hostname : host;
      try {
        const proto = await handshake(target, grpc.port, ctx);
        findings.push({ status: 'pass', text: `gRPC ${target}:${grpc.port} completes a ${proto} handshake` });
      } catch (e) {
        findings.push({ status: 'fail', text: `gRPC ${target}:${grpc.port}: no TLS handshake (${describeNetworkError(e)})`, fix: 'check that the server runs with this configuration, or give the CA that signed its certificate with --ca' });
      }
    }
  }
  return findings;
};

export const metricsCheck: CheckFamily = async (ctx) => {
  try {
    const r = await ctx.get('/metrics');
    if (r.status !== 200) return [{ status: 'fail', text: `GET /metrics answered ${r.status}`, fix: 'serve /metrics to the scraper (it needs no credential)' }];
    const families = new Set([...r.text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!));
    const ours = [...families].filter((f) => f.startsWith('keyward_'));
    if (!/^text\/plain|openmetrics/.test(r.contentType) || ours.length === 0) {
      return [{ status: 'fail', text: `GET /metrics answered 200 but not Keyward's Prometheus metrics (${r.contentType || 'no content type'})`, fix: 'point --url at Keyward itself' }];
    }
    return [{ status: 'pass', text: `${families.size} metric families in Prometheus text format (${ours.length} keyward_*)` }];
  } catch (e) {
    return [{ status: 'fail', text: `GET /metrics failed: ${describeNetworkError(e)}`, fix: 'check that the server runs and --url reaches it' }];
  }
};

const READY_FIX: Record<string, string> = {
  storage: 'the database is unreachable: check storage.url and the database',
  unsealed: 'the server is sealed: unseal it (keyward unseal, with the threshold of shares)',
  audit: 'the audit trail is refusing events: see the durable audit sink line',
};

export const healthCheck: CheckFamily = async (ctx) => {
  const findings: Finding[] = [];
  try {
    const live = await ctx.get('/healthz');
    const ok = live.status === 200 && (live.json as { status?: unknown } | undefined)?.status === 'ok';
    findings.push(ok ? { status: 'pass', text: '/healthz ok' } : { status: 'fail', text: `/healthz answered ${live.status}`, fix: 'point --url at Keyward itself' });
  } catch (e) {
    return [{ status: 'fail', text: `${ctx.probe.url} unreachable: ${describeNetworkError(e)}`, fix: 'start the server, or give the address it listens on with --url' }];
  }
  try {
    const ready = await ctx.get('/readyz');
    const checks = ((ready.json as { checks?: Record<string, boolean> } | undefined)?.checks ?? {}) as Record<string, boolean>;
    if (ready.status === 200) findings.push({ status: 'pass', text: `/readyz ready (${Object.keys(checks).join(', ')})` });
    else {
      const failing = Object.entries(checks).filter(([, v]) => !v).map(([k]) => k);
      findings.push({
        status: 'fail',
        text: `/readyz answered ${ready.status}${failing.length > 0 ? `: not ready: ${failing.join(', ')}` : ''}`,
        fix: failing.map((k) => READY_FIX[k] ?? k).join('; ') || 'see the server log',
      });
    }
  } catch (e) {
    findings.push({ status: 'fail', text: `/readyz failed: ${describeNetworkError(e)}`, fix: 'see the server log' });
  }
  return findings;
};
