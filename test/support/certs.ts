// X.509 test PKI generated with the system openssl: CAs and leaves with SPIFFE URI or DNS/IP SANs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'keyward-pki-'));

  path(name: string): string {
    return join(this.dir, name);
  }

  #openssl(...args: string[]) {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }

  ca(name: string, days = 1): void {
    this.#openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
      '-days', String(days), '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  }

  /** A leaf signed by `caName`, valid `days`; `san` like `URI:spiffe://td/ns/x` or `IP:127.0.0.1`. Files: <name>.pem, <name>.key. */
  leaf(name: string, caName: string, cn: string, san?: string, days = 1): void {
    this.#openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    writeFileSync(this.path(`${name}.ext`), san ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n');
    this.#openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.pem`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', String(days), '-extfile', `${name}.ext`);
  }
}
