// The audit trail: a durable sink that is reachable and can acknowledge now, and the signing key (present, owner
// only, the key the running server signs with, and a backup that holds the same key). Nothing is written to the
// trail: NATS is asked for the stream's state (answered by the stream's leader, which acknowledges publishes), a
// file sink's directory for write access and free space.
import { constants } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { StreamInfo } from '@nats-io/jetstream';
import type { FileSinkConfig, NatsSinkConfig } from '../../audit/config.ts';
import { SINKS, sinkDescriptor } from '../../audit/sinks/index.ts';
import { loadSigningKey } from '../../audit/keys.ts';
import { natsServers, streamSubjects } from '../../audit/sinks/nats.ts';
import { describeNetworkError } from './probe.ts';
import { type CheckFamily, type DoctorContext, type Finding, ruleFindings } from './types.ts';

const MIB = 1024 * 1024;

async function fileSink(s: FileSinkConfig): Promise<Finding[]> {
  const dir = dirname(s.path);
  const findings: Finding[] = [];
  try {
    await access(dir, constants.W_OK);
  } catch (e) {
    return [{ status: 'fail', text: `file ${s.path}: directory ${dir} is not writable (${(e as NodeJS.ErrnoException).code ?? 'error'})`, fix: `create ${dir}, owned by the user Keyward runs as` }];
  }
  try {
    await access(s.path, constants.W_OK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      return [{ status: 'fail', text: `file ${s.path} is not writable (${(e as NodeJS.ErrnoException).code ?? 'error'})`, fix: `give the user Keyward runs as write access to ${s.path}` }];
    }
  }
  const fs = await statfs(dir).catch(() => undefined);
  const free = fs ? fs.bavail * fs.bsize : undefined;
  const want = Math.max(100 * MIB, 2 * s.max_bytes);
  if (free !== undefined && free < want) {
    findings.push({ status: 'warn', text: `file ${s.path}: only ${Math.floor(free / MIB)} MiB free`, fix: `free space on ${dir} (a full disk refuses every operation)` });
  }
  if (s.max_bytes === 0 && s.max_age_seconds === 0) {
    findings.push({ status: 'warn', text: `file ${s.path} never rotates`, fix: 'set max_bytes or max_age_seconds, and ship rotated files away' });
  }
  const rotation = [s.max_bytes > 0 ? `${Math.round(s.max_bytes / MIB)} MiB` : '', s.max_age_seconds > 0 ? `${Math.round(s.max_age_seconds / 3600)} h` : ''].filter(Boolean).join(' or ');
  findings.push({ status: 'pass', text: `file ${s.path} writable${free !== undefined ? ` (${Math.floor(free / MIB)} MiB free)` : ''}${rotation ? `, rotates at ${rotation}` : ''}` });
  return findings;
}

async function natsSink(ctx: DoctorContext, s: NatsSinkConfig): Promise<Finding[]> {
  const servers = natsServers(s.url);
  const where = `nats ${servers.join(',')}`;
  // The NATS client only for a configuration with a NATS sink.
  const [{ connect }, { jetstreamManager }] = await Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]);
  let nc;
  try {
    nc = await connect({ servers, timeout: ctx.probe.timeoutMs, reconnect: false, name: 'keyward-doctor' });
  } catch (e) {
    return [{ status: 'fail', text: `${where}: cannot connect (${describeNetworkError(e)})`, fix: 'check audit.sinks[].url and the NATS servers' }];
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: ctx.probe.timeoutMs });
    let name = s.stream;
    name ??= await jsm.streams.find(`${s.subject}.doctor`).catch(() => undefined);
    if (!name) {
      return [{ status: 'fail', text: `${where}: no JetStream stream captures ${s.subject}.*`, fix: `create one capturing ${streamSubjects(s.subject).join(' and ')} (or set create_stream: true and start the server)` }];
    }
    let info: StreamInfo;
    try {
      // Answered by the stream's leader: the server that acknowledges publishes.
      info = await jsm.streams.info(name);
    } catch (e) {
      return [{ status: 'fail', text: `${where}: stream ${name} does not answer (${describeNetworkError(e)}): publishes cannot be acknowledged`, fix: 'check the stream and the cluster (a stream without a leader has lost its quorum)' }];
    }
    const findings: Finding[] = [];
    const subjects = info.config.subjects ?? [];
    if (!subjects.some((x) => x === `${s.subject}.*` || x === `${s.subject}.>` || x === '>')) {
      findings.push({ status: 'fail', text: `${where}: stream ${name} does not capture ${s.subject}.* (each instance publishes its chain there)`, fix: `add ${s.subject}.* to the stream's subjects` });
    }
    const replicas = info.config.num_replicas ?? 1;
    const peers = info.cluster?.replicas ?? [];
    const down = peers.filter((p) => p.offline || !p.current).map((p) => p.name);
    if (replicas < 3) {
      findings.push({ status: 'warn', text: `${where}: stream ${name} has ${replicas} replica(s): losing that server stops the audit trail until it returns`, fix: 'run a three-node JetStream cluster and keep the stream at 3 replicas (replicas: 3 with create_stream)' });
    }
    if (down.length > 0) findings.push({ status: 'warn', text: `${where}: replica(s) ${down.join(', ')} of stream ${name} offline or behind`, fix: 'bring the NATS server(s) back' });
    const maxBytes = info.config.max_bytes ?? -1;
    if (maxBytes > 0 && info.state.bytes > 0.9 * maxBytes) {
      findings.push({ status: 'warn', text: `${where}: stream ${name} is ${Math.round((100 * info.state.bytes) / maxBytes)} % of its max_bytes`, fix: 'raise the stream limits or archive it' });
    }
    findings.push({
      status: 'pass',
      text: `${where}: stream ${name} (R${replicas}${info.cluster?.leader ? `, leader ${info.cluster.leader}` : ''}, ${info.state.messages} events) answers`,
    });
    return findings;
  } catch (e) {
    return [{ status: 'fail', text: `${where}: JetStream does not answer (${describeNetworkError(e)})`, fix: 'enable JetStream on the NATS servers, and check the cluster' }];
  } finally {
    await nc.close().catch(() => {});
  }
}

// Without an audit section a dev server still audits (a file trail and a key of its own under its data directory),
// so "disabled" would be wrong; what is missing is the section production requires.
const NO_SECTION = 'no audit section (dev mode keeps a trail of its own under the data directory; production requires the section)';

export const auditSinkCheck: CheckFamily = async (ctx) => {
  const audit = ctx.config.audit;
  const durable = SINKS.filter((d) => d.durable).map((d) => d.type);
  const findings = ruleFindings(ctx, 'audit_sink', `configure audit with a ${durable.join(' or ')} sink and on_failure: deny`);
  if (!audit || !audit.enabled) return findings.length > 0 ? findings : [{ status: 'fail', text: audit ? 'audit is disabled' : NO_SECTION, fix: 'enable audit with a durable sink' }];
  for (const s of audit.sinks) {
    if (s.type === 'file') findings.push(...(await fileSink(s)));
    else if (s.type === 'nats') findings.push(...(await natsSink(ctx, s)));
    else if (sinkDescriptor(s.type).durable) {
      // A durable sink the doctor has no live check for is said so, not passed over.
      findings.push({ status: 'warn', text: `${s.type} sink: not probed (the doctor has no live check for it)`, fix: 'check by hand that it accepts writes' });
    }
  }
  return findings;
};

export const auditKeyCheck: CheckFamily = async (ctx) => {
  const audit = ctx.config.audit;
  const findings = ruleFindings(ctx, 'audit_key', 'create one with keyward audit keygen --out PATH (mode 0600) and set audit.signing_key_path');
  if (!audit?.enabled || !audit.signing_key_path) return findings.length > 0 ? findings : [{ status: 'fail', text: audit ? 'no audit signing key configured' : NO_SECTION, fix: 'keyward audit keygen --out PATH' }];
  if (findings.some((f) => f.status === 'fail')) return findings;
  let key;
  try {
    key = await loadSigningKey(audit.signing_key_path, { strict: true });
  } catch (e) {
    return [...findings, { status: 'fail', text: `${audit.signing_key_path}: ${(e as Error).message}`, fix: 'keyward audit keygen --out PATH (mode 0600)' }];
  }
  const keyId = key.info.key_id;
  findings.push({ status: 'pass', text: `${audit.signing_key_path}: Ed25519, owner only, key_id ${keyId}` });

  // The trail's key: what the running server signs with.
  try {
    const r = await ctx.get('/v1/audit/public-key');
    const served = r.json as { key_id?: unknown; ed25519_public_key_b64?: unknown } | undefined;
    if (r.status !== 200 || typeof served?.ed25519_public_key_b64 !== 'string') {
      findings.push({ status: 'fail', text: `GET /v1/audit/public-key answered ${r.status}`, fix: 'check that --url reaches Keyward with audit enabled' });
    } else if (served.ed25519_public_key_b64 !== key.info.ed25519_public_key_b64) {
      findings.push({ status: 'fail', text: `the running server signs its trail with key_id ${String(served.key_id)}, not this file's ${keyId}`, fix: 'run the server with this key, or point the configuration at the key it uses' });
    } else {
      findings.push({ status: 'pass', text: 'the running server signs its trail with it' });
    }
  } catch (e) {
    findings.push({ status: 'warn', text: `the running server's audit key was not compared: ${describeNetworkError(e)}`, fix: 'check that the server runs and --url reaches it' });
  }

  // A backup that is not the same key is no backup.
  if (ctx.auditKeyBackup === undefined) {
    findings.push({ status: 'warn', text: 'backup not verified', fix: 'keep a copy of the key offline and check it with --audit-key-backup FILE' });
  } else {
    try {
      const backup = await loadSigningKey(ctx.auditKeyBackup, { strict: false });
      if (backup.info.ed25519_public_key_b64 === key.info.ed25519_public_key_b64) findings.push({ status: 'pass', text: `backup ${ctx.auditKeyBackup} holds the same key` });
      else findings.push({ status: 'fail', text: `backup ${ctx.auditKeyBackup} holds another key (key_id ${backup.info.key_id})`, fix: 'back up the key the server uses' });
    } catch (e) {
      findings.push({ status: 'fail', text: `backup ${ctx.auditKeyBackup}: ${(e as Error).message}`, fix: 'back up the key the server uses' });
    }
  }
  return findings;
};
