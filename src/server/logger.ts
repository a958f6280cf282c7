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
