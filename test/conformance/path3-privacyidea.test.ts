// §14.3 Path 3: the stack changes, privacyIDEA stays the MFA authority. The canonical fixtures in a Keyward whose
// realm delegates second factors to privacyIDEA (the contract server: privacyIDEA cannot be installed here), and the
// whole suite: MFA-1 signs in at the MFA client with a code privacyIDEA checks. Then privacyIDEA goes away and MFA-1
// fails, because nothing falls back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runConformance } from '../../src/conformance/runner.ts';
import { TestPki } from '../support/certs.ts';
import { PrivacyIdeaContractServer, totpSeed } from '../support/privacyidea-contract.ts';
import { acmeRealm, browser, CHROMIUM_SKIP, closeBrowser, fixtureTarget, provisionDocument, startFixtureKeyward, type FixtureKeyward } from './support.ts';

describe('conformance with privacyIDEA as the MFA authority (Path 3)', { skip: CHROMIUM_SKIP }, () => {
  const pki = new TestPki();
  const seed = totpSeed();
  let pi: PrivacyIdeaContractServer;
  let k: FixtureKeyward;
  before(async () => {
    pi = await PrivacyIdeaContractServer.start({ pki, defaultRealm: 'acme', users: [{ username: 'dave.o-neill', tokens: [{ serial: 'PITO00D4', type: 'totp', secret: seed.secret }] }] });
    const mfa = { authority: 'privacyidea', privacyidea: { url: pi.url, ca_file: pi.caFile, realm: 'acme', timeout_ms: 3000 } };
    k = await startFixtureKeyward(provisionDocument, acmeRealm({ mfa }));
  });
  after(async () => {
    await closeBrowser();
    await k?.close();
    await pi?.stop().catch(() => {});
  });

  it('the whole suite passes, the second factor checked by privacyIDEA', async () => {
    const run = await runConformance({ ...fixtureTarget(k.issuer), mfaTotpSecret: seed.secret }, { scenario: 'A', browser });
    assert.deepEqual(run.outcomes.filter((o) => o.status !== 'passed').map((o) => `${o.def.id}: ${o.message}`), []);
    assert.ok(pi.requests.some((r) => r.path === '/validate/check' && r.params['user'] === 'dave.o-neill'), 'privacyIDEA was asked');
  });

  it('privacyIDEA down: the MFA policy test fails (no sign-in), the rest of the suite is unaffected', async () => {
    await pi.stop();
    const run = await runConformance({ ...fixtureTarget(k.issuer), mfaTotpSecret: seed.secret }, { scenario: 'A', browser, categories: ['mfa_policy', 'login_flow'] });
    const status = Object.fromEntries(run.outcomes.map((o) => [o.def.id, o.status]));
    assert.deepEqual(status, { 'LOGIN-1': 'passed', 'LOGIN-2': 'passed', 'LOGIN-3': 'passed', 'MFA-1': 'failed' });
    assert.match(run.outcomes.find((o) => o.def.id === 'MFA-1')!.message!, /did not come back to the redirect URI/);
  });
});
