// privacyIDEA as a realm's MFA authority, through the real login pages: the password step, then privacyIDEA checks
// the second factor (a TOTP code, an SMS challenge answered with the code, a push approved on the phone), the tokens
// say aal2, and the canonical enrolment references (token serials) decide which token counts. privacyIDEA away:
// no sign-in, a page that says so, an audited refusal. privacyIDEA itself cannot be installed here; the server is
// the contract server written from its published API (test/support/privacyidea-contract.ts, docs/privacyidea.md).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { TestPki } from '../../support/certs.ts';
import { PrivacyIdeaContractServer, totpSeed } from '../../support/privacyidea-contract.ts';
import { Agent, formAction, hidden } from '../../../harness/browser.ts';
import { SECRETS, startEnv, type TestEnv } from '../support/env.ts';

const PW = 'second factor test password 1';
const bobSeed = totpSeed();

/** Realm main: users in group admins (MFA required) with privacyIDEA enrolment references. */
function document(port: number) {
  const user = (id: string, username: string) => ({
    id,
    username,
    display_name: username,
    email: `${username}@example.test`,
    email_verified: true,
    enabled: true,
    principal_type: 'human',
    password: { env: 'MFA_PW' },
  });
  const names = ['bob', 'erin', 'frank', 'gina', 'hank'];
  return {
    schema_version: '0.1',
    realm: 'main',
    tenant: 'tenant:acme',
    environments: ['test'],
    profile_versions: [{ profile: 'netkingdom-iam', version: '0.2', ldap_schema: '0.1', custom_scopes: [{ name: 'keys.sign' }], public_clients_allowed: false }],
    roles: [{ name: 'signer' }],
    groups: [{ name: 'admins', roles: ['signer'] }],
    users: names.map((n) => user(`u-${n}`, n)),
    memberships: names.map((n) => ({ user_id: `u-${n}`, group: 'admins' })),
    clients: [
      {
        client_id: 'web',
        name: 'Team Wiki',
        enabled: true,
        type: 'confidential',
        auth_method: 'client_secret_basic',
        secret: { env: 'WEB_SECRET' },
        redirect_uris: [`http://127.0.0.1:${port}/rp/cb`],
        grant_types: ['authorization_code'],
        pkce_method: 'S256',
        token_profile: { claims: 'netkingdom-iam-0.2', signing_alg: 'ES256' },
        environments: ['test'],
      },
    ],
    client_scope_assignments: [{ client_id: 'web', scope: 'openid' }],
    // bob's TOTP and erin's SMS token are pinned by serial; frank has two push tokens on record; gina none (privacyIDEA
    // decides alone); hank's accepted token is not among his references.
    mfa_enrollments: [
      { id: 'm-bob', user_id: 'u-bob', provider: 'privacyidea', method: 'totp', reference: 'PITO0001', status: 'active' },
      { id: 'm-erin', user_id: 'u-erin', provider: 'privacyidea', method: 'sms', reference: 'PISM0001', status: 'active' },
      { id: 'm-frank1', user_id: 'u-frank', provider: 'privacyidea', method: 'push', reference: 'PIPU0001', status: 'active' },
      { id: 'm-frank2', user_id: 'u-frank', provider: 'privacyidea', method: 'push', reference: 'PIPU0009', status: 'active' },
      { id: 'm-hank1', user_id: 'u-hank', provider: 'privacyidea', method: 'totp', reference: 'PITO0098', status: 'active' },
      { id: 'm-hank2', user_id: 'u-hank', provider: 'privacyidea', method: 'totp', reference: 'PITO0099', status: 'active' },
    ],
  };
}

describe('privacyIDEA as the MFA authority of a realm, through the login pages', () => {
  const pki = new TestPki();
  const hankSeed = totpSeed();
  const ginaSeed = totpSeed();
  let pi: PrivacyIdeaContractServer;
  let env: TestEnv;
  before(async () => {
    pi = await PrivacyIdeaContractServer.start({
      pki,
      defaultRealm: 'defrealm',
      users: [
        { username: 'bob', tokens: [{ serial: 'PITO0001', type: 'totp', secret: bobSeed.secret }] },
        { username: 'erin', tokens: [{ serial: 'PISM0001', type: 'sms' }] },
        { username: 'frank', tokens: [{ serial: 'PIPU0001', type: 'push', push: { answerAfterPolls: 2 } }] },
        { username: 'gina', tokens: [{ serial: 'PITO0007', type: 'totp', secret: ginaSeed.secret }] },
        { username: 'hank', tokens: [{ serial: 'PITO0100', type: 'totp', secret: hankSeed.secret }] },
      ],
    });
    env = await startEnv({
      document,
      secrets: { MFA_PW: PW },
      realm: { mfa: { required_groups: ['admins'], authority: 'privacyidea', privacyidea: { url: pi.url, ca_file: pi.caFile, realm: 'defrealm', timeout_ms: 2000 } } },
    });
  });
  after(async () => {
    await env?.close();
    await pi?.stop().catch(() => {});
  });

  /** Password step for `username`; returns the agent on the second-factor page, its HTML and what the code exchange needs. */
  async function toSecondFactor(username: string) {
    const rp = await oidc.discovery(new URL(env.issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: `${env.base}/rp/cb`, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const agent = new Agent();
    const login = await (await agent.follow(url.href, env.base)).res.text();
    const post = await agent.post(new URL(formAction(login), env.base).href, { csrf: hidden(login, 'csrf'), username, password: PW });
    assert.equal(post.status, 303);
    const step = new URL(post.headers.get('location')!, env.base).href;
    assert.match(step, /\/totp$/);
    const html = await (await agent.get(step)).text();
    return { agent, rp, verifier, step, html };
  }
  const submit = (s: { agent: Agent; step: string; html: string }, form: Record<string, string>) => s.agent.post(s.step, { csrf: hidden(s.html, 'csrf'), ...form });
  async function finish(s: Awaited<ReturnType<typeof toSecondFactor>>, res: Response) {
    assert.equal(res.status, 303, await res.clone().text());
    const { url } = await s.agent.follow(new URL(res.headers.get('location')!, env.base).href, env.base);
    assert.match(url, /\/rp\/cb\?code=/);
    return (await oidc.authorizationCodeGrant(s.rp, new URL(url), { pkceCodeVerifier: s.verifier })).claims()!;
  }
  const refusals = () => env.audit.events.filter((e) => e.event_type === 'idp.authentication_failed' && (e.metadata as any)?.feature === 'mfa_privacyidea');

  it('a TOTP code is checked by privacyIDEA for the enrolled serial; a wrong one is refused and audited; the tokens say aal2', async () => {
    const s = await toSecondFactor('bob');
    assert.match(s.html, /Code from your authenticator/);
    assert.doesNotMatch(s.html, /totp-secret|recovery/, 'no Keyward TOTP enrolment or recovery codes with privacyIDEA');
    const wrong = await submit(s, { code: bobSeed.now(-100) });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /That code is not valid/);
    const audited = refusals().at(-1)!;
    assert.equal(audited.error_code, 'idp.mfa_rejected');
    assert.equal(audited.principal?.id, 'u-bob');
    assert.deepEqual({ ...(audited.metadata as any).mfa, duration_ms: undefined }, { authority: 'privacyidea', operation: 'check', reason: 'rejected', serial: 'PITO0001', token_type: 'totp', http_status: undefined, authority_error_code: undefined, duration_ms: undefined });
    const code = bobSeed.now();
    const claims = await finish(s, await submit(s, { code }));
    assert.deepEqual([claims.sub, claims.acr, claims.amr, (claims.assurance as any).mfa], ['u-bob', 'aal2', ['pwd', 'otp'], true]);
    const check = pi.requests.filter((r) => r.path === '/validate/check').at(-1)!;
    assert.deepEqual(check.params, { user: 'bob', realm: 'defrealm', serial: 'PITO0001', pass: code }, 'one reference on record: privacyIDEA checks that token only');
    assert.ok(!JSON.stringify(env.audit.events).includes(code), 'the code is never audited');
  });

  it('SMS: a challenge started on request shows privacyIDEA\'s prompt; the code sent answers it; the transaction id never reaches the page', async () => {
    const s = await toSecondFactor('erin');
    const started = await submit(s, { action: 'challenge' });
    const page = await started.text();
    assert.equal(started.status, 200, page);
    assert.match(page, /id="mfa-prompts"/);
    assert.match(page, /Code you received/);
    const tx = pi.requests.filter((r) => r.path === '/validate/check').at(-1)!;
    assert.deepEqual(tx.params, { user: 'erin', realm: 'defrealm', serial: 'PISM0001', pass: '' });
    const sent = pi.lastCode('PISM0001')!;
    assert.ok(sent);
    const answer = pi.requests.length;
    const claims = await finish(s, await submit({ ...s, html: page }, { code: sent }));
    assert.deepEqual([claims.acr, claims.amr], ['aal2', ['pwd', 'sms']]);
    const answered = pi.requests.slice(answer).find((r) => r.path === '/validate/check')!;
    assert.ok(answered.params['transaction_id'], 'answered with the transaction id');
    assert.ok(!page.includes(answered.params['transaction_id']!), 'the transaction id is kept server-side');
  });

  it('push: pending until the phone approves, then signed in; a serial privacyIDEA reports must be on record', async () => {
    const s = await toSecondFactor('frank');
    const page = await (await submit(s, { action: 'challenge' })).text();
    assert.match(page, /I have approved the request/);
    const pending = await submit({ ...s, html: page }, { action: 'poll' });
    assert.equal(pending.status, 200);
    assert.match(await pending.text(), /Not approved yet/);
    const claims = await finish(s, await submit({ ...s, html: page }, { action: 'poll' }));
    assert.deepEqual([claims.sub, claims.acr, claims.amr], ['u-frank', 'aal2', ['pwd', 'swk']]);

    // hank's token is valid in privacyIDEA but is none of the two on record: privacyIDEA accepts, Keyward refuses.
    const h = await toSecondFactor('hank');
    const refused = await submit(h, { code: hankSeed.now() });
    assert.equal(refused.status, 401);
    assert.deepEqual([(refusals().at(-1)!.metadata as any).mfa.reason, (refusals().at(-1)!.metadata as any).mfa.serial], ['not_enrolled', 'PITO0100']);
  });

  it('a user without references is checked by privacyIDEA alone', async () => {
    const s = await toSecondFactor('gina');
    const claims = await finish(s, await submit(s, { code: ginaSeed.now() }));
    assert.equal(claims.acr, 'aal2');
    const last = pi.requests.filter((r) => r.path === '/validate/check').at(-1)!;
    assert.deepEqual([last.params['user'], last.params['serial']], ['gina', undefined], 'no serial: any of her tokens');
  });

  it('privacyIDEA failing or down: no sign-in, a page that says so (503), an audited refusal; nothing falls back', async () => {
    const s = await toSecondFactor('bob');
    pi.fault = { kind: 'proxy502' };
    const res = await submit(s, { code: bobSeed.now(1) });
    const page = await res.text();
    assert.equal(res.status, 503);
    assert.match(page, /cannot be checked right now, so signing in is not possible/);
    assert.equal(res.headers.get('location'), null);
    const audited = refusals().at(-1)!;
    assert.equal(audited.error_code, 'idp.mfa_authority_unavailable');
    assert.equal(audited.outcome, 'denied');
    assert.deepEqual([(audited.metadata as any).mfa.reason, (audited.metadata as any).mfa.http_status], ['http_status', 502]);

    pi.fault = { kind: 'none' };
    await pi.stop();
    const again = await submit(s, { code: bobSeed.now(2) });
    assert.equal(again.status, 503);
    assert.equal((refusals().at(-1)!.metadata as any).mfa.reason, 'unreachable');
    // A fresh sign-in is refused the same way: the password alone never gets through.
    const fresh = await toSecondFactor('bob');
    assert.equal((await submit(fresh, { code: bobSeed.now() })).status, 503);
  });
});
