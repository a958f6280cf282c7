// `keyward idp break-glass`: asks the running server for a 10-minute emergency token (the signing key never
// leaves the key service, so this cannot be done offline).
import { parseCommand, UsageError } from '../args.ts';
import { call, CLIENT_OPTIONS, CLIENT_USAGE, clientOptions, runClient } from '../client.ts';
import { EXIT, type CliIo } from '../io.ts';

const USAGE = `usage: keyward idp break-glass --incident ID --authorized-by NAME --reason TEXT [--subject NAME] [--realm R]
  asks the running server for a 10-minute emergency token; the issuance is audited
${CLIENT_USAGE}`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(argv, io, {
    usage: USAGE,
    options: {
      incident: { type: 'string' }, 'authorized-by': { type: 'string' }, reason: { type: 'string' }, subject: { type: 'string' }, realm: { type: 'string' },
      ...CLIENT_OPTIONS,
    },
    args: [],
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  return runClient(io, USAGE, async () => {
    if (!values.incident || !values['authorized-by'] || !values.reason) throw new UsageError('--incident, --authorized-by and --reason are required');
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
  });
}
