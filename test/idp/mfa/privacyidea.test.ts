// privacyIDEA as the MFA authority, against the contract server written from privacyIDEA 3.13's published API
// (privacyIDEA itself cannot be installed here: see test/support/privacyidea-contract.ts).
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { MFAEnrollmentReference } from '../../../src/identity/model.ts';
import { MfaAuthorityUnavailableError, type MfaUser, mfaRefusalEvent, type MfaResult } from '../../../src/idp/mfa/authority.ts';
import { type PrivacyIdeaConfigInput, privacyIdeaConfigSchema } from '../../../src/idp/mfa/config.ts';
import { type MfaLogger, PrivacyIdeaAuthority } from '../../../src/idp/mfa/privacyidea.ts';
import { TestPki } from '../../support/certs.ts';
import { type ContractUser, PrivacyIdeaContractServer, startSilentServer, totpSeed } from '../../support/privacyidea-contract.ts';

const SVC_PASSWORD = 'svc-Secret-pw-9f2';
const pki = new TestPki();
const users: ContractUser[] = [];
let pi: PrivacyIdeaContractServer;
const logs: string[] = [];
const logger: MfaLogger = {
  warn: (obj, msg) => logs.push(JSON.stringify({ level: 'warn', ...obj, msg })),
  error: (obj, msg) => logs.push(JSON.stringify({ level: 'error', ...obj, msg })),
};
/** Every secret a test sent; none may show up in a log line or an error message. */
const secrets = new Set<string>([SVC_PASSWORD]);
const authorities: PrivacyIdeaAuthority[] = [];

function authority(over: Partial<PrivacyIdeaConfigInput> = {}, env: NodeJS.ProcessEnv = {}): PrivacyIdeaAuthority {
  const cfg = privacyIdeaConfigSchema.parse({ url: pi.url, ca_file: pi.caFile, realm: 'defrealm', ...over });
  const a = new PrivacyIdeaAuthority(cfg, { env, logger });
  authorities.push(a);
  return a;
}

let n = 0;
/** A fresh user with one TOTP token (fresh, so replay protection of one test does not touch another). */
function totpUser(pin = ''): { user: MfaUser; code: (offset?: number) => string; serial: string } {
  n += 1;
  const seed = totpSeed();
  const serial = `TOTP${String(n).padStart(8, '0')}`;
  users.push({ username: `totp${n}`, tokens: [{ serial, type: 'totp', secret: seed.secret, pin }] });
  return {
    user: { id: `u-totp${n}`, username: `totp${n}` },
    serial,
    code: (offset = 0) => {
      const c = seed.now(offset);
      secrets.add(c);
      return c;
    },
  };
}

function enrolment(userId: string, serial: string, status: 'active' | 'pending' = 'active', provider: 'privacyidea' | 'keyward' = 'privacyidea'): MFAEnrollmentReference {
  return { id: `e-${serial}`, user_id: userId, provider, method: 'totp', reference: serial, status };
}

async function unavailable(p: Promise<unknown>, reason: string): Promise<MfaAuthorityUnavailableError> {
  try {
    const r = await p;
    assert.fail(`expected MfaAuthorityUnavailableError (${reason}), got ${JSON.stringify(r)}`);
  } catch (err) {
    assert.ok(err instanceof MfaAuthorityUnavailableError, `not an MfaAuthorityUnavailableError: ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.equal(err.code, 'mfa.authority_unavailable');
    return err;
  }
}

before(async () => {
  users.push(
    { username: 'bob', tokens: [{ serial: 'PISM00001', type: 'sms' }, { serial: 'PIEM00001', type: 'email' }] },
    { username: 'carol', tokens: [{ serial: 'PIPU00001', type: 'push', push: { answerAfterPolls: 2 } }] },
    { username: 'dave', tokens: [{ serial: 'PIPU00002', type: 'push', push: { answerAfterPolls: 1, decline: true } }] },
    { username: 'frank', tokens: [] },
  );
  pi = await PrivacyIdeaContractServer.start({
    pki,
    users,
    defaultRealm: 'defrealm',
    admins: [
      { username: 'keyward-svc', password: SVC_PASSWORD },
      { username: 'helpdesk', password: SVC_PASSWORD, role: 'user' },
    ],
  });
});
afterEach(() => {
  pi.fault = { kind: 'none' };
  pi.faultPath = undefined;
});
after(async () => {
  for (const a of authorities) await a.close();
  await pi.stop();
  // No OTP, PIN, password, JWT or transaction id in any log line written during the whole file.
  assert.ok(logs.length > 0, 'the failures above were logged');
  const all = logs.join('\n');
  for (const s of secrets) assert.ok(!all.includes(s), `a secret reached the log: ${s.slice(0, 3)}…`);
});

describe('one-shot check (/validate/check user + realm + pass)', () => {
  test('a current TOTP code is accepted; the request is privacyIDEA form data with user, realm and pass', async () => {
    const { user, code, serial } = totpUser();
    const c = code();
    const r = await authority().check(user, c);
    assert.deepEqual(r, { outcome: 'accept', serial, tokenType: 'totp' });
    const req = pi.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/validate/check');
    assert.match(req.contentType ?? '', /^application\/x-www-form-urlencoded/);
    assert.deepEqual(req.params, { user: user.username, realm: 'defrealm', pass: c });
  });

  test('PIN + OTP is passed through as one pass', async () => {
    const { user, code } = totpUser('4711');
    secrets.add('4711');
    assert.equal((await authority().check(user, `4711${code()}`)).outcome, 'accept');
    const wrongPin = await authority().check(user, `0000${code(1)}`);
    assert.equal(wrongPin.outcome, 'reject');
    assert.equal(wrongPin.outcome === 'reject' && wrongPin.authorityMessage, 'wrong otp pin');
  });

  test('a wrong code and a replayed code are rejections (value:false), not errors', async () => {
    const { user, code, serial } = totpUser();
    const a = authority();
    const wrong = await a.check(user, code(-100));
    assert.deepEqual(wrong, { outcome: 'reject', reason: 'rejected', serial, tokenType: 'totp', authorityMessage: 'wrong otp value' });
    const c = code();
    assert.equal((await a.check(user, c)).outcome, 'accept');
    const replay = await a.check(user, c);
    assert.equal(replay.outcome, 'reject');
    assert.equal(replay.outcome === 'reject' && replay.authorityMessage, 'wrong otp value. previous otp used again');
  });

  test('an empty or oversized code is refused locally, without asking privacyIDEA', async () => {
    const { user } = totpUser();
    const before = pi.requests.length;
    assert.equal((await authority().check(user, '')).outcome, 'reject');
    assert.equal((await authority().check(user, '1'.repeat(300))).outcome, 'reject');
    assert.equal(pi.requests.length, before);
  });

  test('a user without tokens is a rejection; an unknown user is privacyIDEA error 904 (status:false): unavailable', async () => {
    const frank = await authority().check({ id: 'u-frank', username: 'frank' }, '123456');
    assert.equal(frank.outcome === 'reject' && frank.authorityMessage, 'The user has no tokens assigned');
    const err = await unavailable(authority().check({ id: 'u-nobody', username: 'nobody' }, '123456'), 'error_response');
    assert.equal(err.authorityErrorCode, 904);
    assert.equal(err.httpStatus, 400);
  });
});

describe('challenge-response (SMS / e-mail)', () => {
  test('startChallenge via /validate/check with an empty PIN; the typed code answers it', async () => {
    const a = authority();
    const bob = { id: 'u-bob', username: 'bob' };
    const ch = await a.startChallenge(bob);
    assert.equal(ch.outcome, 'challenge');
    if (ch.outcome !== 'challenge') return;
    secrets.add(ch.transactionId);
    assert.match(ch.transactionId, /^[0-9]{20}$/);
    assert.equal(ch.interactive, true);
    assert.equal(ch.poll, false);
    assert.deepEqual(
      ch.challenges.map((c) => [c.serial, c.type, c.clientMode, c.message]),
      [
        ['PISM00001', 'sms', 'interactive', 'Enter the OTP from the SMS:'],
        ['PIEM00001', 'email', 'interactive', 'Enter the OTP from the Email'],
      ],
    );
    assert.deepEqual(pi.requests.at(-1)!.params, { user: 'bob', realm: 'defrealm', pass: '' });

    const wrong = await a.answerChallenge(bob, ch.transactionId, '000000');
    assert.equal(wrong.outcome, 'reject');
    const sms = pi.lastCode('PISM00001')!;
    secrets.add(sms);
    const ok = await a.answerChallenge(bob, ch.transactionId, sms);
    assert.deepEqual(ok, { outcome: 'accept', serial: 'PISM00001', tokenType: undefined });
    assert.deepEqual(pi.requests.at(-1)!.params, { user: 'bob', realm: 'defrealm', pass: sms, transaction_id: ch.transactionId });
    // The transaction is spent.
    assert.equal((await a.answerChallenge(bob, ch.transactionId, sms)).outcome, 'reject');
  });

  test('a user whose tokens cannot do challenges gets no_challenge', async () => {
    const { user } = totpUser();
    const r = await authority().startChallenge(user);
    assert.equal(r.outcome === 'reject' && r.reason, 'no_challenge');
  });
});

describe('push (out of band): /validate/polltransaction, then the final /validate/check', () => {
  test('pending until the phone answers; then finalised with pass "" and accepted', async () => {
    const a = authority();
    const carol = { id: 'u-carol', username: 'carol' };
    const ch = await a.startChallenge(carol);
    assert.equal(ch.outcome, 'challenge');
    if (ch.outcome !== 'challenge') return;
    secrets.add(ch.transactionId);
    assert.equal(ch.poll, true);
    assert.equal(ch.interactive, false);
    assert.equal(ch.challenges[0]!.message, 'Please confirm the authentication on your mobile device!');
    assert.deepEqual(await a.poll(carol, ch.transactionId), { outcome: 'pending' });
    const pollReq = pi.requests.at(-1)!;
    assert.equal(pollReq.method, 'GET');
    assert.equal(pollReq.path, '/validate/polltransaction');
    assert.deepEqual(pollReq.params, { transaction_id: ch.transactionId });
    const checksBefore = pi.countRequests('/validate/check');
    const done = await a.poll(carol, ch.transactionId);
    assert.deepEqual(done, { outcome: 'accept', serial: 'PIPU00001', tokenType: undefined });
    // Only the final /validate/check makes it an acceptance (privacyIDEA applies its policies there).
    assert.equal(pi.countRequests('/validate/check'), checksBefore + 1);
    assert.deepEqual(pi.requests.at(-1)!.params, { user: 'carol', realm: 'defrealm', pass: '', transaction_id: ch.transactionId });
  });

  test('a declined push is a rejection (declined)', async () => {
    const a = authority();
    const dave = { id: 'u-dave', username: 'dave' };
    const ch = await a.startChallenge(dave);
    assert.equal(ch.outcome, 'challenge');
    if (ch.outcome !== 'challenge') return;
    secrets.add(ch.transactionId);
    const r = await a.poll(dave, ch.transactionId);
    assert.equal(r.outcome === 'reject' && r.reason, 'declined');
  });

  test('an unknown transaction stays pending (privacyIDEA does not tell them apart)', async () => {
    assert.deepEqual(await authority().poll({ id: 'u-carol', username: 'carol' }, '12345678901234567890'), { outcome: 'pending' });
  });
});

describe('serial numbers as the canonical enrolment references', () => {
  test('one active privacyIDEA enrolment: the check is pinned to that serial (user + serial)', async () => {
    n += 1;
    const a1 = totpSeed();
    const a2 = totpSeed();
    const name = `pinned${n}`;
    users.push({ username: name, tokens: [{ serial: `PIN1-${n}`, type: 'totp', secret: a1.secret }, { serial: `PIN2-${n}`, type: 'totp', secret: a2.secret }] });
    const user: MfaUser = {
      id: `u-${name}`,
      username: name,
      enrollments: [enrolment(`u-${name}`, `PIN2-${n}`), enrolment(`u-${name}`, `OLD-${n}`, 'pending'), enrolment('someone-else', `X-${n}`), enrolment(`u-${name}`, 'kw-1', 'active', 'keyward')],
    };
    const other = a1.now();
    secrets.add(other);
    const r = await authority().check(user, other);
    assert.equal(r.outcome, 'reject');
    assert.equal(pi.requests.at(-1)!.params.serial, `PIN2-${n}`);
    const mine = a2.now();
    secrets.add(mine);
    assert.deepEqual(await authority().check(user, mine), { outcome: 'accept', serial: `PIN2-${n}`, tokenType: 'totp' });
  });

  test('several enrolments: a token privacyIDEA accepts but that is not on record is refused (not_enrolled)', async () => {
    n += 1;
    const s1 = totpSeed();
    const s2 = totpSeed();
    const name = `multi${n}`;
    users.push({ username: name, tokens: [{ serial: `M1-${n}`, type: 'totp', secret: s1.secret }, { serial: `M2-${n}`, type: 'totp', secret: s2.secret }] });
    const user: MfaUser = { id: `u-${name}`, username: name, enrollments: [enrolment(`u-${name}`, `M2-${n}`), enrolment(`u-${name}`, `GONE-${n}`)] };
    const stray = s1.now();
    secrets.add(stray);
    const r = await authority().check(user, stray);
    assert.deepEqual(r, { outcome: 'reject', reason: 'not_enrolled', serial: `M1-${n}`, tokenType: 'totp', authorityMessage: undefined });
    assert.equal(pi.requests.at(-1)!.params.serial, undefined);
    const good = s2.now();
    secrets.add(good);
    assert.equal((await authority().check(user, good)).outcome, 'accept');
  });

  test('challenges of tokens not on record are not offered', async () => {
    const bob: MfaUser = { id: 'u-bob', username: 'bob', enrollments: [enrolment('u-bob', 'PIEM00001'), enrolment('u-bob', 'HW-1')] };
    const ch = await authority().startChallenge(bob);
    assert.equal(ch.outcome, 'challenge');
    if (ch.outcome === 'challenge') {
      secrets.add(ch.transactionId);
      assert.deepEqual(ch.challenges.map((c) => c.serial), ['PIEM00001']);
    }
    // The SMS code of the token that was not offered does not get in either.
    if (ch.outcome !== 'challenge') return;
    const sms = pi.lastCode('PISM00001')!;
    secrets.add(sms);
    const r = await authority().answerChallenge(bob, ch.transactionId, sms);
    assert.equal(r.outcome === 'reject' && r.reason, 'not_enrolled');
  });

  test('a serial privacyIDEA says is not the user\'s (ERR905, status:false) fails closed', async () => {
    const { user } = totpUser();
    const err = await unavailable(authority().check({ ...user, enrollments: [enrolment(user.id, 'PISM00001')] }, '123456'), 'error_response');
    assert.equal(err.authorityErrorCode, 905);
  });
});

describe('triggerchallenge with the service account (POST /auth → admin JWT)', () => {
  const env = { PI_SVC_PASSWORD: SVC_PASSWORD };
  const cfg = { challenge_trigger: 'triggerchallenge' as const, service_account: { username: 'keyward-svc', password_env: 'PI_SVC_PASSWORD' } };

  test('logs in once, sends the JWT as PI-Authorization, reuses it, and renews it when privacyIDEA refuses it', async () => {
    const a = authority(cfg, env);
    const auths = pi.countRequests('/auth');
    const bob = { id: 'u-bob', username: 'bob' };
    const ch = await a.startChallenge(bob);
    assert.equal(ch.outcome, 'challenge');
    if (ch.outcome === 'challenge') secrets.add(ch.transactionId);
    assert.equal(pi.countRequests('/auth'), auths + 1);
    const login = pi.requests.findLast((r) => r.path === '/auth')!;
    assert.deepEqual(login.params, { username: 'keyward-svc', password: SVC_PASSWORD });
    const trig = pi.requests.at(-1)!;
    assert.equal(trig.path, '/validate/triggerchallenge');
    assert.deepEqual(trig.params, { user: 'bob', realm: 'defrealm' });
    assert.match(trig.authorization ?? '', /^eyJ/);
    secrets.add(trig.authorization!);

    const ch2 = await a.startChallenge(bob);
    if (ch2.outcome === 'challenge') secrets.add(ch2.transactionId);
    assert.equal(pi.countRequests('/auth'), auths + 1, 'the JWT is reused');

    pi.rotateJwtKey();
    const trigBefore = pi.countRequests('/validate/triggerchallenge');
    const ch3 = await a.startChallenge(bob);
    assert.equal(ch3.outcome, 'challenge');
    if (ch3.outcome === 'challenge') secrets.add(ch3.transactionId);
    assert.equal(pi.countRequests('/auth'), auths + 2, 'one new login after ERR4304');
    assert.equal(pi.countRequests('/validate/triggerchallenge'), trigBefore + 2);
    for (const r of pi.requests) if (r.authorization) secrets.add(r.authorization);
  });

  test('triggerchallenge for a user without challenge tokens: no_challenge', async () => {
    const r = await authority(cfg, env).startChallenge({ id: 'u-frank', username: 'frank' });
    assert.equal(r.outcome === 'reject' && r.reason, 'no_challenge');
  });

  test('a wrong service password or a non-admin account: service_auth_failed, and no triggerchallenge is sent', async () => {
    const before = pi.countRequests('/validate/triggerchallenge');
    const e1 = await unavailable(authority(cfg, { PI_SVC_PASSWORD: 'wrong-Password-1' }).startChallenge({ id: 'u-bob', username: 'bob' }), 'service_auth_failed');
    secrets.add('wrong-Password-1');
    assert.equal(e1.authorityErrorCode, 4031);
    assert.equal(e1.operation, 'service_auth');
    const helpdesk = { ...cfg, service_account: { username: 'helpdesk', password_env: 'PI_SVC_PASSWORD' } };
    await unavailable(authority(helpdesk, env).startChallenge({ id: 'u-bob', username: 'bob' }), 'service_auth_failed');
    assert.equal(pi.countRequests('/validate/triggerchallenge'), before);
  });

  test('a missing password variable stops the start', () => {
    assert.throws(() => authority(cfg, {}), /service_account\.password_env: environment variable PI_SVC_PASSWORD is not set/);
  });
});

describe('validate API key (privacyIDEA api_key_required policy)', () => {
  test('without the key: ERR303 (status:false), unavailable; with it: accepted', async () => {
    const keyed = await PrivacyIdeaContractServer.start({ pki: new TestPki(), users, defaultRealm: 'defrealm', apiKeyRequired: true });
    try {
      const { user, code } = totpUser();
      const base = { url: keyed.url, ca_file: keyed.caFile };
      const no = new PrivacyIdeaAuthority(privacyIdeaConfigSchema.parse(base), { logger });
      const e = await unavailable(no.check(user, code()), 'error_response');
      assert.equal(e.authorityErrorCode, 303);
      assert.equal(e.httpStatus, 403);
      const key = await keyed.apiKey();
      secrets.add(key);
      const yes = new PrivacyIdeaAuthority(privacyIdeaConfigSchema.parse({ ...base, api_key_env: 'PI_API_KEY' }), { env: { PI_API_KEY: key }, logger });
      assert.equal((await yes.check(user, code(1))).outcome, 'accept');
      assert.equal(keyed.requests.at(-1)!.authorization, key);
      await no.close();
      await yes.close();
    } finally {
      await keyed.stop();
    }
  });
});

describe('fail closed: every fault is MfaAuthorityUnavailableError, never a pass', () => {
  const cases: { name: string; fault: PrivacyIdeaContractServer['fault']; reason: string; http?: number; code?: number }[] = [
    { name: 'connection reset', fault: { kind: 'reset' }, reason: 'unreachable' },
    { name: 'HTTP 500 (privacyIDEA internal error, code -500)', fault: { kind: 'http500' }, reason: 'error_response', http: 500, code: -500 },
    { name: 'a proxy\'s 502 page', fault: { kind: 'proxy502' }, reason: 'http_status', http: 502 },
    { name: 'truncated JSON', fault: { kind: 'malformed' }, reason: 'malformed' },
    { name: 'JSON that is not privacyIDEA\'s document', fault: { kind: 'foreign_json' }, reason: 'malformed' },
    { name: 'status:false with HTTP 200', fault: { kind: 'status_false', code: 902, message: 'ERR902: database error', http: 200 }, reason: 'error_response', code: 902 },
    { name: 'status:false with HTTP 400', fault: { kind: 'status_false', code: 903, message: 'ERR903: server error', http: 400 }, reason: 'error_response', http: 400, code: 903 },
    { name: 'ACCEPT together with challenges', fault: { kind: 'accept_with_challenge' }, reason: 'malformed' },
    { name: 'REJECT with value true', fault: { kind: 'reject_with_value_true' }, reason: 'malformed' },
    { name: 'a reply over 1 MiB', fault: { kind: 'huge' }, reason: 'malformed' },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.reason}`, async () => {
      const { user, code } = totpUser();
      pi.fault = c.fault;
      const otp = code();
      const checks = pi.countRequests('/validate/check');
      const err = await unavailable(authority().check(user, otp), c.reason);
      if (c.http !== undefined) assert.equal(err.httpStatus, c.http);
      assert.equal(err.authorityErrorCode, c.code);
      assert.ok(!err.message.includes(otp) && !(err.stack ?? '').includes(otp));
      assert.equal(pi.countRequests('/validate/check'), checks + 1, 'asked once, not retried');
      // Faults before privacyIDEA's check: the code is still good afterwards (nothing was decided). The two
      // self-contradicting answers come after the check, so there the code is spent.
      pi.fault = { kind: 'none' };
      const again = await authority().check(user, otp);
      assert.equal(again.outcome, c.fault.kind === 'accept_with_challenge' || c.fault.kind === 'reject_with_value_true' ? 'reject' : 'accept');
    });
  }

  test('the same faults on poll, start and answer fail closed too', async () => {
    const carol = { id: 'u-carol', username: 'carol' };
    pi.fault = { kind: 'status_false', code: 902, message: 'ERR902: database error', http: 400 };
    await unavailable(authority().startChallenge(carol), 'error_response');
    await unavailable(authority().answerChallenge(carol, '12345678901234567890', '123456'), 'error_response');
    pi.fault = { kind: 'malformed' };
    await unavailable(authority().poll(carol, '12345678901234567890'), 'malformed');
    // polltransaction answers, the final check breaks: still no pass.
    pi.fault = { kind: 'none' };
    const a = authority();
    const ch = await a.startChallenge({ id: 'u-carol', username: 'carol' });
    if (ch.outcome !== 'challenge') return assert.fail('no challenge');
    secrets.add(ch.transactionId);
    assert.deepEqual(await a.poll(carol, ch.transactionId), { outcome: 'pending' });
    pi.fault = { kind: 'http500' };
    pi.faultPath = '/validate/check';
    await unavailable(a.poll(carol, ch.transactionId), 'error_response');
  });

  test('privacyIDEA down (nothing listening) → unreachable', async () => {
    const down = await PrivacyIdeaContractServer.start({ pki: new TestPki(), users });
    const url = down.url;
    const ca = down.caFile;
    await down.stop();
    const a = new PrivacyIdeaAuthority(privacyIdeaConfigSchema.parse({ url, ca_file: ca }), { logger });
    const { user, code } = totpUser();
    await unavailable(a.check(user, code()), 'unreachable');
    await a.close();
  });

  test('an error message that echoes the OTP is scrubbed', async () => {
    const { user, code } = totpUser();
    const otp = code();
    pi.fault = { kind: 'status_false', code: 905, message: `ERR905: cannot handle pass ${otp}`, http: 400 };
    const err = await unavailable(authority().check(user, otp), 'error_response');
    assert.ok(!err.message.includes(otp));
    assert.match(err.message, /cannot handle pass \[redacted\]/);
  });
});

describe('timeouts and TLS', () => {
  // Both against servers that never answer: only Keyward's own timers can end the check, and which one did is in
  // the reason. A test timeout guards against neither firing.
  test('no answer within timeout_ms → timeout: Keyward hangs up, and the check is not retried', { timeout: 30_000 }, async () => {
    const { user, code } = totpUser();
    pi.fault = { kind: 'silent' };
    const before = pi.countRequests('/validate/check');
    const hungUp = pi.hungUp.length;
    await unavailable(authority({ timeout_ms: 300 }).check(user, code()), 'timeout');
    await pi.hangUps(hungUp + 1);
    assert.deepEqual(pi.hungUp.slice(hungUp), ['/validate/check']);
    // A retry would have been sent before check() gave up; none was.
    assert.equal(pi.countRequests('/validate/check'), before + 1);
  });

  test('no TLS handshake within connect_timeout_ms → connect_timeout (before timeout_ms)', { timeout: 30_000 }, async () => {
    const silent = await startSilentServer();
    try {
      // connect_timeout, not timeout: the connect timer fired while the overall timer was still running.
      const a = new PrivacyIdeaAuthority(privacyIdeaConfigSchema.parse({ url: silent.url, ca_file: pi.caFile, connect_timeout_ms: 200, timeout_ms: 10_000 }), { logger });
      const { user, code } = totpUser();
      await unavailable(a.check(user, code()), 'connect_timeout');
      await a.close();
    } finally {
      await silent.close();
    }
  });

  test('a certificate from another CA, or the system CAs only → tls', async () => {
    const other = new TestPki();
    other.ca('other-ca');
    const { user, code } = totpUser();
    await unavailable(authority({ ca_file: other.path('other-ca.pem') }).check(user, code()), 'tls');
    const sys = new PrivacyIdeaAuthority(privacyIdeaConfigSchema.parse({ url: pi.url }), { logger });
    await unavailable(sys.check(user, code(1)), 'tls');
    await sys.close();
  });

  test('mutual TLS: without the client certificate refused (tls), with it accepted', async () => {
    const mtls = await PrivacyIdeaContractServer.start({ pki: new TestPki(), users, defaultRealm: 'defrealm', requireClientCert: true });
    try {
      const { user, code } = totpUser();
      const noCert = new PrivacyIdeaAuthority(privacyIdeaConfigSchema.parse({ url: mtls.url, ca_file: mtls.caFile }), { logger });
      const e = await unavailable(noCert.check(user, code()), 'tls');
      assert.equal(e.operation, 'check');
      const withCert = new PrivacyIdeaAuthority(privacyIdeaConfigSchema.parse({ url: mtls.url, ca_file: mtls.caFile, cert_file: mtls.clientCertFile, key_file: mtls.clientKeyFile }), { logger });
      assert.equal((await withCert.check(user, code(1))).outcome, 'accept');
      await noCert.close();
      await withCert.close();
    } finally {
      await mtls.stop();
    }
  });

  test('an unreadable ca_file stops the start', () => {
    assert.throws(() => authority({ ca_file: '/nonexistent/ca.pem' }), /mfa\.privacyidea\.ca_file: cannot read/);
  });
});

describe('audit / telemetry fields of a refusal', () => {
  test('rejection and unavailability carry the reason, never the code or the transaction', async () => {
    const { user, code } = totpUser();
    const otp = code(-50);
    const rejected = (await authority().check(user, otp)) as Extract<MfaResult, { outcome: 'reject' }>;
    const ev = mfaRefusalEvent({ realm: 'keyward', clientId: 'app', user, sourceIp: '127.0.0.1' }, 'privacyidea', 'check', rejected);
    assert.deepEqual(ev.mfa, { authority: 'privacyidea', operation: 'check', reason: 'rejected', serial: rejected.serial, token_type: 'totp', http_status: undefined, authority_error_code: undefined, duration_ms: undefined });
    assert.equal(ev.error_class, 'mfa_rejected');
    assert.equal(ev.result, 'rejected');
    assert.equal(ev.principal, user.id);
    pi.fault = { kind: 'status_false', code: 903, message: 'ERR903: server error', http: 400 };
    const err = await unavailable(authority().check(user, code()), 'error_response');
    const ev2 = mfaRefusalEvent({ realm: 'keyward', user }, 'privacyidea', 'check', err);
    assert.equal(ev2.error_class, 'mfa_authority_unavailable');
    assert.equal(ev2.result, 'failure');
    assert.equal(ev2.mfa.authority_error_code, 903);
    assert.equal(ev2.mfa.http_status, 400);
    assert.equal(typeof ev2.mfa.duration_ms, 'number');
    const text = JSON.stringify([ev, ev2]);
    for (const s of secrets) assert.ok(!text.includes(s));
  });
});
