// Scenario A (KeyCape §15.2): the canonical fixtures provisioned into Keyward, and every test of the suite passes.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runConformance } from '../../src/conformance/runner.ts';
import { printRun } from '../../src/conformance/output.ts';
import { contractResultsSchema } from '../../src/migrate/report.ts';
import { run as runCli } from '../../src/cli/commands/conformance.ts';
import { browser, CHROMIUM_SKIP, SECRETS, closeBrowser, fixtureTarget, provisionDocument, startFixtureKeyward, type FixtureKeyward } from './support.ts';

describe('conformance scenario A: canonical fixtures in Keyward', { skip: CHROMIUM_SKIP }, () => {
  let k: FixtureKeyward;
  before(async () => {
    k = await startFixtureKeyward(provisionDocument);
  });
  after(async () => {
    await closeBrowser();
    await k?.close();
  });

  it('passes every test of the catalogue, and the acceptance rule is met', async () => {
    const run = await runConformance(fixtureTarget(k.issuer), { scenario: 'A', browser });
    const text = printRun(run).join('\n');
    console.log(text);
    assert.equal(run.keyward, true);
    assert.deepEqual(run.outcomes.filter((o) => o.status !== 'passed').map((o) => `${o.def.id}: ${o.message}`), []);
    assert.equal(run.results.status, 'passed');
    assert.ok(contractResultsSchema.safeParse(run.results).success);
    assert.deepEqual(run.results.acceptance.map((a) => a.status), ['met', 'met', 'met', 'met', 'met']);
  });
});

describe('conformance: the suite notices a broken issuer, and the command writes its reports', { skip: CHROMIUM_SKIP }, () => {
  let k: FixtureKeyward;
  before(async () => {
    k = await startFixtureKeyward(provisionDocument);
  });
  after(async () => {
    await closeBrowser();
    await k?.close();
  });

  it('a password that no longer works, and claims that drifted from the canonical data, fail their tests and the acceptance rule', async () => {
    const target = fixtureTarget(k.issuer);
    const drifted = structuredClone(target.document!.data) as { memberships: Array<{ user_id: string; group: string }> };
    drifted.memberships = drifted.memberships.filter((m) => !(m.user_id === 'u-0004' && m.group === 'ops'));
    const run = await runConformance(
      { ...target, user: { ...target.user, password: 'not dave any more' }, document: { data: drifted, source: 'drifted.json' } },
      { scenario: 'A', browser, categories: ['login_flow', 'token_claims', 'migration_data_integrity'] },
    );
    const status = Object.fromEntries(run.outcomes.map((o) => [o.def.id, o.status]));
    assert.equal(status['LOGIN-1'], 'failed');
    assert.equal(status['LOGIN-2'], 'passed');
    assert.equal(status['DATA-1'], 'passed');
    assert.equal(status['DATA-2'], 'failed');
    assert.equal(run.results.status, 'failed');
    assert.equal(run.results.acceptance.find((a) => a.rule === 'profile-conformant apps keep working')?.status, 'not_met');

    const right = await runConformance({ ...target, document: { data: drifted, source: 'drifted.json' } }, { scenario: 'A', browser, categories: ['migration_data_integrity'] });
    assert.match(right.outcomes.find((o) => o.def.id === 'DATA-2')!.message!, /^groups: \["auditors","ops"\], the canonical data says \["auditors"\]/);
  });

  it('keyward conformance run --scenario D writes JUnit XML and the contract results, prints the acceptance table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-conformance-'));
    const out: string[] = [];
    const io = { out: (l: string) => void out.push(l), err: (l: string) => void out.push(l), env: { PW: SECRETS.ACME_DAVE_PASSWORD!, SECRET: SECRETS.ACME_PORTAL_SECRET! } };
    const code = await runCli(
      ['run', '--scenario', 'D', '--issuer', k.issuer, '--client', 'portal', '--client-secret-env', 'SECRET', '--redirect-uri', 'http://127.0.0.1:8400/oidc/callback', '--user', 'dave.o-neill', '--password-env', 'PW', '--report', join(dir, 'junit.xml'), '--results', join(dir, 'results.json')],
      io,
      { browser },
    );
    assert.equal(code, 0, out.join('\n'));
    const text = out.join('\n');
    assert.match(text, /unsupported cases fail in expected ways\s+met/);
    assert.match(text, /profile-conformant apps keep working\s+not checked/);
    const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
    assert.match(junit, /<testsuites name="keyward conformance D" tests="7" failures="0" skipped="1"/);
    assert.match(junit, /<testcase classname="conformance.negative_profile" name="NEG-5 profile error classes"/);
    const results = contractResultsSchema.parse(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')));
    assert.equal(results.scenario, 'D');
    rmSync(dir, { recursive: true, force: true });

    // Usage: a secret must come from a variable that is set.
    assert.equal(await runCli(['run', '--issuer', k.issuer, '--client', 'portal', '--client-secret-env', 'UNSET_VAR', '--redirect-uri', 'http://127.0.0.1:8400/cb', '--user', 'x', '--password-env', 'PW'], io), 2);
  });
});
