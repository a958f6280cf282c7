// `keyward idp break-glass`: asks the running server for a 10-minute emergency token (the signing key never
// leaves the key service, so this cannot be done offline).
import { parseArgs } from 'node:util';
import { call, clientOptions, reportError } from '../client.ts';
import { EXIT, type CliIo } from '../io.ts';

const USAGE = 'usage: keyward idp break-glass --incident ID --authorized-by NAME --reason TEXT [--subject NAME] [--realm R] [--addr URL] [--token T] [--json]';

export async function run(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        incident: { type: 'string' }, 'authorized-by': { type: 'string' }, reason: { type: 'string' }, subject: { type: 'string' }, realm: { type: 'string' },
        addr: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' },
      },
    }));
  } catch (e) {
    io.err(`${(e as Error).message}\n${USAGE}`);
    return EXIT.usage;
  }
  if (!values.incident || !values['authorized-by'] || !values.reason) {
    io.err(USAGE);
    return EXIT.usage;
  }
  try {
    const r = await call(clientOptions(values, io), 'POST', '/v1/idp/break-glass', {
      incident_id: values.incident,
      authorized_by: values['authorized-by'],
      reason: values.reason,
      ...(values.subject ? { subject: values.subject } : {}),
      ...(values.realm ? { realm: values.realm } : {}),
    });
    if (values.json) io.out(JSON.stringify(r));
    else {
      io.err(`EMERGENCY TOKEN for incident ${values.incident}, valid ${String(r['expires_in'])}s; this issuance is in the audit trail.`);
      io.out(String(r['access_token']));
    }
    return EXIT.ok;
  } catch (e) {
    return reportError(e, io);
  }
}
