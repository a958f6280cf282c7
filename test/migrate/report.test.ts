// Migration reports (§14.4) through `keyward migrate report`: JSON and Markdown, every section present, no secret
// material, contract test results attached in the documented shape; plus the telemetry event of every operation.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { IdpEvent } from '../../src/idp/telemetry.ts';
import { contractResultsNotRun, contractResultsSchema, type ContractTestResults } from '../../src/migrate/report.ts';
import { emitMigrationEvent } from '../../src/migrate/telemetry.ts';
import { runCli, type RunResult } from '../cli/helpers.ts';

const TENANT = 'fixtures/identity/tenant.json';
const ENV = { ACME_ALICE_PASSWORD: 'alice secret pw', ACME_BOB_PASSWORD: 'bob secret pw', ACME_PORTAL_SECRET: 'portal-secret-value' };
const tmp = mkdtempSync(join(tmpdir(), 'kw-migrate-report-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The telemetry lines a run wrote to stderr. */
const events = (r: RunResult): IdpEvent[] =>
  r.err
    .split('\n')
    .filter((l) => l.startsWith('{"telemetry"'))
    .map((l) => JSON.parse(l).telemetry);

const RESULTS: ContractTestResults = {
  schema: 'keyward.contract-results/v1',
  status: 'failed',
  generated_by: 'keyward conformance run',
  issuer: 'https://kc.acme.example/realms/acme',
  scenario: 'B',
  summary: { total: 3, passed: 1, failed: 1, skipped: 1 },
  categories: [
    { category: 'discovery', tests: [{ name: 'issuer matches', status: 'passed', duration_ms: 12 }] },
    { category: 'token_claims', tests: [{ name: 'assurance present', status: 'failed', message: 'no assurance claim' }, { name: 'emergency', status: 'skipped' }] },
  ],
  acceptance: [{ rule: 'required claims remain stable', status: 'not_met', detail: 'assurance missing' }],
};

describe('keyward migrate report', () => {
  it('--to keycloak: JSON and Markdown with every §14.4 section, and no secret material', async () => {
    const out = join(tmp, 'kc');
    const r = await runCli(['migrate', 'report', '--to', 'keycloak', '--realm', 'acme', '--input', TENANT, '--out', out], ENV);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /not ready: 0 validation error\(s\), 0 failed conformance check\(s\), incompatibilities \d+ blocking/);
    const json = readFileSync(join(out, 'migration-report.json'), 'utf8');
    const rep = JSON.parse(json);
    assert.equal(rep.schema, 'keyward.migration-report/v1');
    for (const k of ['transformed_directory_data', 'client_definitions', 'profile_conformance', 'validation', 'contract_tests', 'incompatibilities']) assert.ok(k in rep, k);
    assert.deepEqual([rep.target, rep.path, rep.source.kind, rep.source.realm], ['keycloak', 1, 'document', 'acme']);
    assert.equal(rep.contract_tests.status, 'not_run');
    assert.deepEqual(rep.contract_tests, contractResultsNotRun());
    assert.equal(rep.client_definitions.length, 4);
    assert.deepEqual(rep.transformed_directory_data.users.find((u: { username: string }) => u.username === 'alice'), {
      username: 'alice',
      id: 'u-0001',
      enabled: true,
      principal_type: 'human',
      groups: ['admins', 'ops'],
      roles: ['admin', 'reader', 'signer'],
      credentials: ['password'],
    });
    assert.equal(rep.summary.ready, false);
    assert.ok(rep.incompatibilities.some((i: { code: string }) => i.code === 'keycloak.claim.assurance'));
    // Ordered: blocking first.
    assert.equal(rep.incompatibilities[0].severity, 'blocking');
    // Nothing secret: no hash, no salt, no password, no client secret.
    for (const secret of ['$argon2', 'secretData', 'credentialData', 'alice secret pw', 'portal-secret-value']) assert.ok(!json.includes(secret), secret);
    const md = readFileSync(join(out, 'migration-report.md'), 'utf8');
    for (const h of ['# Migration report: acme → Keycloak (Path 1)', '## Incompatibilities', '### In the source, not expressible in the target', '### Carried over, behaves differently', '### Target features the profile forbids', '## Validation results', '## Profile conformance', '## Contract test results', '## Client definitions', '## Transformed directory data'])
      assert.ok(md.includes(h), h);
    assert.match(md, /\| `assurance_claim` \| .* \| not expressible \|/);
    assert.match(md, /Not run yet/);
    assert.ok(!md.includes('$argon2') && !md.includes('portal-secret-value'));
    assert.deepEqual(events(r).map((e) => [e.event, e.endpoint, e.feature_category, e.result]), [['migration', 'keyward migrate report', 'migration.keycloak', 'success']]);
  });

  it('--to keycloak --directory (Path 2) and --to ldif (the LDIF and LDAP-rule checks in the report)', async () => {
    const p2 = join(tmp, 'p2');
    const r = await runCli(['migrate', 'report', '--to', 'keycloak', '--realm', 'acme', '--input', TENANT, '--out', p2, '--directory', 'ldap://ldap.acme.example:389', '--base-dn', 'dc=acme,dc=example', '--bind-dn', 'cn=kc,dc=acme,dc=example', '--bind-password-env', 'LDAP_PW'], {});
    assert.equal(r.code, 0, r.err);
    const rep = JSON.parse(readFileSync(join(p2, 'migration-report.json'), 'utf8'));
    assert.equal(rep.path, 2);
    assert.deepEqual(rep.target_details.directory, 'ldap://ldap.acme.example:389');
    assert.ok(rep.incompatibilities.some((i: { code: string }) => i.code === 'keycloak.ldap.disabled_needs_memberof'));

    const l = join(tmp, 'ldif');
    const lr = await runCli(['migrate', 'report', '--to', 'ldif', '--input', TENANT, '--out', l, '--strict'], {});
    assert.equal(lr.code, 1, 'not ready (passwords are not in LDIF): --strict fails');
    const lrep = JSON.parse(readFileSync(join(l, 'migration-report.json'), 'utf8'));
    assert.equal(lrep.target, 'ldif');
    assert.ok(lrep.profile_conformance.length > 15 && lrep.profile_conformance.every((c: { status: string }) => c.status === 'pass'));
    assert.match(readFileSync(join(l, 'acme.ldif'), 'utf8'), /^version: 1/);
    assert.equal(lrep.transformed_directory_data.files[0].name, 'acme.ldif');
    assert.match(readFileSync(join(l, 'migration-report.md'), 'utf8'), /Clients are not directory data/);
  });

  it('attaches contract test results in the documented shape; a malformed file is refused', async () => {
    assert.equal(contractResultsSchema.safeParse(RESULTS).success, true);
    const file = join(tmp, 'results.json');
    writeFileSync(file, JSON.stringify(RESULTS));
    const out = join(tmp, 'with-results');
    const r = await runCli(['migrate', 'report', '--to', 'keycloak', '--realm', 'acme', '--input', TENANT, '--out', out, '--contract-results', file], {});
    assert.equal(r.code, 0, r.err);
    const rep = JSON.parse(readFileSync(join(out, 'migration-report.json'), 'utf8'));
    assert.deepEqual(rep.contract_tests, RESULTS);
    const md = readFileSync(join(out, 'migration-report.md'), 'utf8');
    assert.match(md, /\*\*Failed\*\*: 1 passed, 1 failed, 1 skipped of 3, scenario B against https:\/\/kc\.acme\.example\/realms\/acme/);
    assert.match(md, /\| token_claims \| assurance present \| failed \| no assurance claim \|/);

    const bad = join(tmp, 'bad-results.json');
    writeFileSync(bad, JSON.stringify({ ...RESULTS, summary: { total: 5, passed: 1, failed: 1, skipped: 1 } }));
    const b = await runCli(['migrate', 'report', '--to', 'keycloak', '--realm', 'acme', '--input', TENANT, '--out', join(tmp, 'bad'), '--contract-results', bad], {});
    assert.equal(b.code, 2);
    assert.match(b.err, /migrate\.contract_results_invalid: .*summary: the summary does not match the tests listed/);
  });
});

describe('keyward migrate export --to keycloak (CLI)', () => {
  it('writes the directory export and emits one telemetry event without user data or secrets', async () => {
    const out = join(tmp, 'export');
    const r = await runCli(['migrate', 'export', '--to', 'keycloak', '--realm', 'acme', '--input', TENANT, '--out', out, '--users-per-file', '4'], ENV);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /wrote .*acme-realm\.json\nwrote .*acme-users-0\.json\nwrote .*acme-users-1\.json\n/);
    assert.match(r.out, /blocking keycloak\.claim\.assurance/);
    const ev = events(r);
    assert.equal(ev.length, 1);
    assert.deepEqual([ev[0]!.event, ev[0]!.realm, ev[0]!.endpoint, ev[0]!.feature_category, ev[0]!.result], ['migration', 'acme', 'keyward migrate export', 'migration.keycloak', 'success']);
    assert.ok(ev[0]!.correlation_id);
    const line = r.err.split('\n').find((l) => l.startsWith('{"telemetry"'))!;
    for (const s of ['alice', '$argon2', 'alice secret pw', 'portal-secret-value']) assert.ok(!line.includes(s), s);
  });

  it('an invalid source is refused with its findings, nothing is written, and the event says rejected', async () => {
    const out = join(tmp, 'nothing');
    const r = await runCli(['migrate', 'export', '--to', 'keycloak', '--realm', 'acme', '--input', 'fixtures/identity/invalid/identity.redirect_uri_wildcard.json', '--out', out], {});
    assert.equal(r.code, 1);
    assert.match(r.err, /identity\.redirect_uri_wildcard/);
    assert.deepEqual(events(r).map((e) => [e.result, e.error_class]), [['rejected', 'migrate.source_invalid']]);
    assert.throws(() => readFileSync(join(out, 'acme-realm.json')));
  });

  it('usage errors exit 2 before reading anything', async () => {
    const base = ['migrate', 'export', '--input', TENANT];
    for (const argv of [
      ['migrate'],
      ['migrate', 'frob'],
      [...base, '--out', tmp],
      [...base, '--to', 'okta', '--out', tmp],
      [...base, '--to', 'keycloak', '--out', tmp],
      [...base, '--to', 'keycloak', '--realm', 'acme'],
      [...base, '--to', 'keycloak', '--realm', 'acme', '--out', tmp, '--users-per-file', '0'],
      [...base, '--to', 'keycloak', '--realm', 'acme', '--out', tmp, '--directory', 'http://x'],
      [...base, '--to', 'keycloak', '--realm', 'acme', '--out', tmp, '--bind-dn', 'cn=x'],
      [...base, '--to', 'keycloak', '--realm', 'acme', '--out', tmp, '--directory', 'ldap://x:389', '--bind-password-env', 'PW'],
      [...base, '--to', 'ldif', '--out', join(tmp, 'u.ldif'), '--directory', 'ldap://x:389'],
      [...base, '--to', 'ldif', '--out', join(tmp, 'u.ldif'), '--base-dn', 'not a dn'],
      [...base, '--to', 'ldif', '--out', join(tmp, 'u.ldif'), '--strict'],
      ['migrate', 'export', '--to', 'ldif', '--out', join(tmp, 'u.ldif')],
    ]) {
      const r = await runCli(argv, {});
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    }
    const help = await runCli(['migrate', '--help'], {});
    assert.equal(help.code, 0);
    assert.match(help.out, /keyward migrate export --to keycloak --realm NAME --out DIR/);
    assert.match((await runCli(['--help'], {})).out, /migrate <command>/);
  });

  it('a telemetry emitter that fails does not change the outcome', async () => {
    const warnings: string[] = [];
    await emitMigrationEvent(
      () => {
        throw new Error('sink down');
      },
      { realm: 'acme', operation: 'export', target: 'keycloak', result: 'success' },
      (l) => warnings.push(l),
    );
    assert.deepEqual(warnings, ['warning: telemetry event not emitted: sink down']);
  });
});
