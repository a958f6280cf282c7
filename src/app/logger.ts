// JSON logs through pino. Redaction is a second line of defence: code must not log secrets in the first place.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  '*.token',
  '*.share',
  '*.shares',
  '*.plaintext',
  '*.private_key_pem',
  '*.key_material',
  '*.password',
  '*.secret',
];

export function createLogger(opts: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    { level: opts.level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'keyward' }, timestamp: pino.stdTimeFunctions.isoTime },
    opts.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/**
 * A request URL for logs: the path, and of the query only the parameter names. Query values are where clients put
 * credentials (`?access_token=…`, `?code=…`), so none is logged.
 */
export function urlForLog(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const names = url
    .slice(q + 1)
    .split('&')
    .filter((p) => p !== '')
    // A part without '=' may be a bare value (`?<token>`): only parts with '=' have a name to keep.
    .map((p) => (p.includes('=') ? `${p.slice(0, Math.min(p.indexOf('='), 64))}=[redacted]` : '[redacted]'));
  return `${url.slice(0, q)}?${names.join('&')}`;
}

/** Fastify's request serializer (access log, request errors) with the URL passed through urlForLog. */
export function requestForLog(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return { method: req.method, url: req.url === undefined ? undefined : urlForLog(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}
