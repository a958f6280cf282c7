// Keyward configuration for the HSM providers against the test services: a private SoftHSM2 token (softhsm.ts) and a
// private PyKMIP server (pykmip.ts). The PIN goes through an environment variable, as in production.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PykmipServer } from './pykmip.ts';
import type { SoftHsm, SoftHsmToken } from './softhsm.ts';

export const PIN_ENV = 'KEYWARD_TEST_PKCS11_PIN';

export function pkcs11Provider(hsm: SoftHsm, token: SoftHsmToken, extra: Record<string, unknown> = {}) {
  return {
    config: { module: hsm.modulePath, token_label: token.label, pin_env: PIN_ENV, reconnect_interval: '1s', ...extra },
    env: { [PIN_ENV]: token.pin },
  };
}

/** KMIP client files written into `dir` (the configuration names files, as in production). */
export function kmipProvider(server: PykmipServer, dir: string, extra: Record<string, unknown> = {}) {
  const creds = server.credentials('client');
  const path = (n: string) => join(dir, n);
  writeFileSync(path('kmip-ca.pem'), creds.ca);
  writeFileSync(path('kmip-client.pem'), creds.cert);
  writeFileSync(path('kmip-client.key'), creds.key, { mode: 0o600 });
  return {
    host: '127.0.0.1',
    port: server.port,
    ca_file: path('kmip-ca.pem'),
    cert_file: path('kmip-client.pem'),
    key_file: path('kmip-client.key'),
    request_timeout: '5s',
    connect_timeout: '2s',
    ...extra,
  };
}
