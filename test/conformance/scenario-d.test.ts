// Scenario D (KeyCape §15.2): unsupported functionality is refused the way the profile says, and counted in the
// telemetry; the refusals the trail must hold are in the audit trail.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runConformance } from '../../src/conformance/runner.ts';
import { scenarioTests } from '../../src/conformance/catalogue.ts';
import { browser, closeBrowser, fixtureTarget, provisionDocument, startFixtureKeyward, type FixtureKeyward } from './support.ts';

describe('conformance scenario D: negative profile tests against Keyward', () => {
  let k: FixtureKeyward;
  before(async () => {
    k = await startFixtureKeyward(provisionDocument);
  });
  after(async () => {
    await closeBrowser();
    await k?.close();
  });

  it('every refusal has its OAuth error and profile error class, is counted as telemetry, and the audited ones are in the trail', async () => {
    const run = await runConformance(fixtureTarget(k.issuer), { scenario: 'D', browser });
    assert.deepEqual(
      run.outcomes.map((o) => [o.def.id, o.status]),
      scenarioTests('D').map((d) => [d.id, d.id === 'TEL-1' ? 'skipped' : 'passed']),
      JSON.stringify(run.outcomes.filter((o) => o.status === 'failed')),
    );
    const acceptance = Object.fromEntries(run.results.acceptance.map((a) => [a.rule, a.status]));
    assert.equal(acceptance['unsupported cases fail in expected ways'], 'met');
    assert.equal(acceptance['telemetry remains available where expected'], 'met');
    // The audited telemetry events (src/idp/telemetry.ts AUDITED) of the refusals: the admin API and the redirect.
    await new Promise((r) => setTimeout(r, 100));
    const audited = k.t.auditLines.map((l) => JSON.parse(l) as { event_type?: string; error_code?: string });
    assert.ok(audited.some((e) => e.event_type === 'idp.admin_unsupported' && e.error_code === 'idp.available_in_keycloak_mode_only'), 'admin API refusal audited');
  });

  it('against an issuer that is not Keyward, the Keyward-only tests are skipped and telemetry is not checked', async () => {
    const run = await runConformance(fixtureTarget(k.issuer), { scenario: 'D', browser, keyward: false });
    const skipped = run.outcomes.filter((o) => o.status === 'skipped').map((o) => [o.def.id, o.message]);
    assert.deepEqual(skipped, [
      ['NEG-5', 'applies to Keyward issuers only'],
      ['TEL-1', 'applies to Keyward issuers only'],
      ['TEL-2', 'applies to Keyward issuers only'],
    ]);
    assert.equal(run.results.status, 'passed');
    assert.deepEqual(run.results.acceptance.find((a) => a.rule === 'telemetry remains available where expected'), {
      rule: 'telemetry remains available where expected',
      status: 'not_checked',
      detail: 'telemetry is asserted on Keyward issuers only',
    });
  });
});
