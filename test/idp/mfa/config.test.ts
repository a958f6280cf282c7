// The MFA authority configuration fragment: strict, statically checked, secrets only by environment variable name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { mfaAuthorityConfigSchema, mfaAuthorityFields, privacyIdeaConfigSchema, refineMfaAuthority } from '../../../src/idp/mfa/config.ts';

const issues = (r: { success: boolean; error?: z.ZodError }) => (r.success ? [] : r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`));

test('defaults: builtin authority; privacyIDEA timeouts and challenge trigger', () => {
  assert.deepEqual(mfaAuthorityConfigSchema.parse({}), { authority: 'builtin' });
  const c = mfaAuthorityConfigSchema.parse({ authority: 'privacyidea', privacyidea: { url: 'https://pi.example/pi', realm: 'staff', ca_file: '/etc/pi-ca.pem' } });
  assert.deepEqual(c.privacyidea, { url: 'https://pi.example/pi', realm: 'staff', ca_file: '/etc/pi-ca.pem', connect_timeout_ms: 2000, timeout_ms: 5000, challenge_trigger: 'validate_check' });
});

test('refused: unknown keys, plain http, half a client certificate, a literal password, missing or unused sections', () => {
  const bad: [unknown, RegExp][] = [
    [{ authority: 'privacyidea' }, /privacyidea: authority privacyidea needs a privacyidea section/],
    [{ authority: 'builtin', privacyidea: { url: 'https://pi.example' } }, /privacyidea: a privacyidea section is only used/],
    [{ authority: 'duo' }, /authority/],
    [{ authority: 'builtin', extra: 1 }, /Unrecognized key/],
    [{ authority: 'privacyidea', privacyidea: { url: 'http://pi.example' } }, /https/],
    [{ authority: 'privacyidea', privacyidea: { url: 'https://pi.example', verify_tls: false } }, /Unrecognized key/],
    [{ authority: 'privacyidea', privacyidea: { url: 'https://pi.example', cert_file: '/c.pem' } }, /cert_file and key_file go together/],
    [{ authority: 'privacyidea', privacyidea: { url: 'https://pi.example', challenge_trigger: 'triggerchallenge' } }, /needs a service_account/],
    [
      { authority: 'privacyidea', privacyidea: { url: 'https://pi.example', service_account: { username: 'svc', password_env: 'PI_PW' } } },
      /service_account is only used with challenge_trigger: triggerchallenge/,
    ],
    [
      { authority: 'privacyidea', privacyidea: { url: 'https://pi.example', challenge_trigger: 'triggerchallenge', service_account: { username: 'svc', password: 'x' } } },
      /Unrecognized key|password_env/,
    ],
    [{ authority: 'privacyidea', privacyidea: { url: 'https://pi.example', api_key_env: 'not an env name' } }, /environment variable name/],
    [{ authority: 'privacyidea', privacyidea: { url: 'https://pi.example', timeout_ms: 0 } }, /timeout_ms/],
  ];
  for (const [input, want] of bad) {
    const got = issues(mfaAuthorityConfigSchema.safeParse(input));
    assert.ok(got.some((m) => want.test(m)), `${JSON.stringify(input)} → ${JSON.stringify(got)}`);
  }
});

test('a service account with triggerchallenge and a validate API key are accepted', () => {
  const c = privacyIdeaConfigSchema.parse({
    url: 'https://pi.example',
    challenge_trigger: 'triggerchallenge',
    service_account: { username: 'keyward-svc', password_env: 'KEYWARD_PI_PASSWORD' },
    api_key_env: 'KEYWARD_PI_API_KEY',
  });
  assert.equal(c.service_account?.password_env, 'KEYWARD_PI_PASSWORD');
});

test('the fields compose into an existing strict object (as the realm mfa section will)', () => {
  const realmMfa = z
    .object({ required_groups: z.array(z.string()).default([]), ...mfaAuthorityFields })
    .strict()
    .superRefine(refineMfaAuthority);
  assert.deepEqual(realmMfa.parse({ required_groups: ['admins'] }), { required_groups: ['admins'], authority: 'builtin' });
  assert.ok(issues(realmMfa.safeParse({ authority: 'privacyidea' })).some((m) => /needs a privacyidea section/.test(m)));
});
