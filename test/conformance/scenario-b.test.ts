// Scenario B (KeyCape §15.2, §14.3 Path 1): the identity provider is replaced and the same application-facing tests
// run against the new issuer. The replacement the specification names is Keycloak, which cannot run on these
// machines (docs/migration.md). So B runs against a second Keyward provisioned only from the files
// `keyward migrate export --to keycloak` wrote (read the way Keycloak's import reads them: ./keycloak-import.ts),
// with the client secrets from the environment as Keycloak's import substitutes them. The canonical document stays
// the reference: DATA-2 compares the new issuer's claims with it.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run as migrate } from '../../src/cli/commands/migrate.ts';
import { printRun } from '../../src/conformance/output.ts';
import { runConformance } from '../../src/conformance/runner.ts';
import { applyRealmDocument } from '../../src/idp/realm-document.ts';
import { importKeycloakExport } from './keycloak-import.ts';
import { browser, CHROMIUM_SKIP, closeBrowser, fixtureTarget, SECRETS, startFixtureKeyward, TENANT_PATH, type FixtureKeyward } from './support.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';
import { idpSettings } from '../../src/idp/config.ts';

describe('conformance scenario B: a second issuer provisioned only from the Keycloak export', { skip: CHROMIUM_SKIP }, () => {
  let k: FixtureKeyward;
  const dir = mkdtempSync(join(tmpdir(), 'kw-scenario-b-'));
  before(async () => {
    const out: string[] = [];
    const io = { out: (l: string) => void out.push(l), err: (l: string) => void out.push(l), env: { ...SECRETS } };
    // Passwords referenced as {env} are hashed at export time (argon2id), as an operator's export would carry them.
    assert.equal(await migrate(['export', '--to', 'keycloak', '--realm', 'acme', '--input', TENANT_PATH, '--out', join(dir, 'export')], io), 0, out.join('\n'));
    assert.deepEqual(readdirSync(join(dir, 'export')).sort(), ['acme-realm.json', 'acme-users-0.json']);
    const imported = importKeycloakExport(join(dir, 'export'), 'acme');
    // Keycloak's environment at import: the client secrets the placeholders name. No user password is given.
    const keycloakEnv = { ACME_PORTAL_SECRET: SECRETS.ACME_PORTAL_SECRET, ACME_BILLING_SECRET: SECRETS.ACME_BILLING_SECRET };
    k = await startFixtureKeyward(async (kw) => {
      const r = await applyRealmDocument(idpRepositories(kw.t.kw.store.kysely, kw.t.kw.store.dialect), idpSettings(kw.t.kw.config.idp)!, imported.document, 'keycloak export', { dryRun: false, env: keycloakEnv });
      assert.ok(r.result, JSON.stringify(r.findings));
    }, imported.realm);
  });
  after(async () => {
    await closeBrowser();
    await k?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the whole suite passes against the re-provisioned issuer, with the claims of the canonical data', async () => {
    const run = await runConformance(fixtureTarget(k.issuer), { scenario: 'B', browser });
    console.log(printRun(run).join('\n'));
    assert.deepEqual(run.outcomes.filter((o) => o.status !== 'passed').map((o) => `${o.def.id}: ${o.message}`), []);
    assert.deepEqual(run.results.acceptance.map((a) => a.status), ['met', 'met', 'met', 'met', 'met']);
  });
});
