// Keyward credentials in Keycloak's format, checked the way Keycloak reads them. Keycloak cannot run here, so the
// checks re-implement only its READING of the stored fields (Argon2PasswordHashProvider.verify, OTPCredentialModel
// .getDecodedSecret) and leave the hashing and the one-time passwords to @node-rs/argon2 and otpauth.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hash, hashRaw, verify, type Algorithm, type Version } from '@node-rs/argon2';
import { Secret, TOTP } from 'otpauth';
import { otpCredential, passwordCredential } from '../../src/migrate/keycloak/credentials.ts';
import type { KcCredential } from '../../src/migrate/keycloak/types.ts';
import { PhcError } from '../../src/migrate/phc.ts';

/** Keycloak's Argon2Parameters: type and version names. */
const KC_TYPES: Record<string, Algorithm> = { id: 2 as Algorithm, i: 1 as Algorithm, d: 0 as Algorithm };
const KC_VERSIONS: Record<string, Version> = { '1.3': 1 as Version, '1.0': 0 as Version };

/** Only the fields Keycloak reads, by the names it reads them under (getFirst = first list element). */
function keycloakFields(c: KcCredential) {
  const secret = JSON.parse(c.secretData) as { value: string; salt: string };
  const data = JSON.parse(c.credentialData) as { hashIterations: number; algorithm: string; additionalParameters: Record<string, string[]> };
  const p = data.additionalParameters;
  return {
    algorithm: data.algorithm,
    type: p.type![0]!,
    version: p.version![0]!,
    hashLength: Number.parseInt(p.hashLength![0]!, 10),
    parallelism: Number.parseInt(p.parallelism![0]!, 10),
    memory: Number.parseInt(p.memory![0]!, 10),
    iterations: data.hashIterations,
    salt: Buffer.from(secret.salt, 'base64'),
    value: secret.value,
  };
}

/** Argon2PasswordHashProvider.verify: recompute over the password and compare Java's padded base64 as strings. */
async function keycloakVerifies(c: KcCredential, password: string): Promise<boolean> {
  const f = keycloakFields(c);
  if (f.algorithm !== 'argon2') return false;
  const raw = await hashRaw(password, {
    algorithm: KC_TYPES[f.type]!,
    version: KC_VERSIONS[f.version]!,
    salt: f.salt,
    parallelism: f.parallelism,
    memoryCost: f.memory,
    timeCost: f.iterations,
    outputLen: f.hashLength,
  });
  return raw.toString('base64') === f.value;
}

/** The same fields back into a PHC string, verified by @node-rs/argon2 itself. */
async function phcFromKeycloakVerifies(c: KcCredential, password: string): Promise<boolean> {
  const f = keycloakFields(c);
  const variant = { id: 'argon2id', i: 'argon2i', d: 'argon2d' }[f.type];
  const v = { '1.3': 19, '1.0': 16 }[f.version];
  const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
  return verify(`$${variant}$v=${v}$m=${f.memory},t=${f.iterations},p=${f.parallelism}$${b64(f.salt)}$${f.value.replace(/=+$/, '')}`, password);
}

describe('passwords: argon2 PHC -> Keycloak argon2 credential', () => {
  const cases: Array<{ name: string; password: string; opts: Parameters<typeof hash>[1] }> = [
    { name: "Keyward's defaults (argon2id, m=19456, t=2, p=1)", password: 'correct horse battery staple', opts: { memoryCost: 19456, timeCost: 2, parallelism: 1 } },
    { name: 'non-ASCII password (UTF-8 on both sides)', password: 'pässwörd-日本-😀', opts: { memoryCost: 8192, timeCost: 1, parallelism: 1 } },
    { name: 'parallelism 4, 3 passes, 64-byte output', password: 'pw', opts: { memoryCost: 16384, timeCost: 3, parallelism: 4, outputLen: 64 } },
    { name: 'argon2i', password: 'pw', opts: { algorithm: 1 as Algorithm, memoryCost: 8192, timeCost: 2, parallelism: 1 } },
    { name: 'argon2d, version 0x10', password: 'pw', opts: { algorithm: 0 as Algorithm, version: 0 as Version, memoryCost: 8192, timeCost: 2, parallelism: 1 } },
    { name: 'a salt whose base64 needs padding (8 bytes)', password: 'pw', opts: { memoryCost: 8192, timeCost: 1, parallelism: 1, salt: Buffer.from('8bytes!!') } },
  ];
  for (const c of cases)
    it(`${c.name}: Keycloak's reading of the fields accepts the password and refuses another`, async () => {
      const phc = await hash(c.password, c.opts);
      const cred = passwordCredential(phc, 1_700_000_000_000);
      assert.equal(cred.type, 'password');
      assert.equal(await keycloakVerifies(cred, c.password), true);
      assert.equal(await keycloakVerifies(cred, c.password + 'x'), false);
      assert.equal(await phcFromKeycloakVerifies(cred, c.password), true);
    });

  it('writes the exact fields and names Keycloak exports for argon2 (secretData/credentialData as JSON strings)', async () => {
    const phc = await hash('pw', { memoryCost: 7168, timeCost: 5, parallelism: 1, salt: Buffer.alloc(16, 7) });
    const c = passwordCredential(phc, 42);
    assert.deepEqual(JSON.parse(c.credentialData), {
      hashIterations: 5,
      algorithm: 'argon2',
      additionalParameters: { hashLength: ['32'], memory: ['7168'], type: ['id'], version: ['1.3'], parallelism: ['1'] },
    });
    const s = JSON.parse(c.secretData);
    assert.deepEqual(Object.keys(s), ['value', 'salt', 'additionalParameters']);
    assert.equal(s.salt, Buffer.alloc(16, 7).toString('base64'));
    assert.match(s.value, /^[A-Za-z0-9+/]{43}=$/, 'standard base64 with padding, as java.util.Base64 encodes');
    assert.equal(c.createdDate, 42);
  });

  it('each mapped field matters: a wrong memory, iteration count, type, version or salt fails verification', async () => {
    const phc = await hash('pw', { memoryCost: 8192, timeCost: 2, parallelism: 1 });
    const good = passwordCredential(phc, 0);
    const tamper = (f: (d: any, s: any) => void): KcCredential => {
      const d = JSON.parse(good.credentialData);
      const s = JSON.parse(good.secretData);
      f(d, s);
      return { ...good, credentialData: JSON.stringify(d), secretData: JSON.stringify(s) };
    };
    const broken = [
      tamper((d) => (d.additionalParameters.memory = ['8193'])),
      tamper((d) => (d.hashIterations = 3)),
      tamper((d) => (d.additionalParameters.type = ['i'])),
      tamper((d) => (d.additionalParameters.version = ['1.0'])),
      tamper((_d, s) => (s.salt = Buffer.alloc(16).toString('base64'))),
      tamper((_d, s) => (s.value = s.value.replace(/=$/, ''))),
    ];
    for (const b of broken) assert.equal(await keycloakVerifies(b, 'pw'), false, b.credentialData + b.secretData);
  });

  it('refuses what Keycloak cannot verify: other schemes, secret keys or associated data, malformed strings', async () => {
    const withSecret = await hash('pw', { memoryCost: 8192, timeCost: 1, parallelism: 1, secret: Buffer.from('pepper') });
    for (const bad of [
      '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW',
      '$pbkdf2-sha256$29000$N2bMeU8JAcC4dy6F8D5njA$y6fnFUJlJ/fjvOwa3rIvjqYqv.oKkG8hq9J7SDrqg2c',
      '$argon2id$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      '$argon2id$v=19$m=8192,t=1,p=1,data=YWJj$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      '$argon2id$v=19$m=8192,t=1,p=1,keyid=abc$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      '$argon2id$v=18$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      '$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      '$argon2id$v=19$m=8192,t=1,p=1$c2Fs*HNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      'plaintext',
    ])
      assert.throws(() => passwordCredential(bad, 0), PhcError, bad);
    // A peppered hash parses, but Keycloak has no pepper: it would never verify. It must be told apart from a plain
    // one, and it cannot be from the PHC string alone; Keyward does not pepper (src/idp/realm-file.ts).
    assert.equal(await keycloakVerifies(passwordCredential(withSecret, 0), 'pw'), false);
  });
});

describe('TOTP: Keyward enrolment -> Keycloak OTP credential', () => {
  /** OTPCredentialModel.getDecodedSecret: raw UTF-8 bytes unless secretEncoding names BASE32. */
  function keycloakKey(c: KcCredential): Buffer {
    const value = (JSON.parse(c.secretData) as { value: string }).value;
    const enc = (JSON.parse(c.credentialData) as { secretEncoding?: string }).secretEncoding;
    if (enc === undefined || enc === null) return Buffer.from(value, 'utf8');
    assert.equal(enc.toUpperCase(), 'BASE32');
    return Buffer.from(Secret.fromBase32(value).bytes);
  }
  const HMAC: Record<string, string> = { HmacSHA1: 'SHA1', HmacSHA256: 'SHA256', HmacSHA512: 'SHA512' };
  function keycloakCode(c: KcCredential, timestamp: number): string {
    const d = JSON.parse(c.credentialData) as { subType: string; digits: number; period: number; algorithm: string; counter: number };
    assert.equal(d.subType, 'totp');
    assert.equal(d.counter, 0);
    return new TOTP({ secret: new Secret({ buffer: new Uint8Array(keycloakKey(c)).buffer }), digits: d.digits, period: d.period, algorithm: HMAC[d.algorithm]! }).generate({ timestamp });
  }

  for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const)
    it(`${algorithm}: Keycloak computes the same codes as the user's authenticator`, () => {
      const seed = new Secret({ size: 20 });
      const app = new TOTP({ secret: seed, digits: 6, period: 30, algorithm });
      const cred = otpCredential({ secretBase32: seed.base32, digits: 6, period: 30, algorithm }, 0);
      for (const t of [0, 59_000, 1_700_000_000_000, 2_000_000_000_000]) assert.equal(keycloakCode(cred, t), app.generate({ timestamp: t }));
    });

  it('names the BASE32 encoding: without it Keycloak would key the HMAC with the base32 text and every code would differ', () => {
    const seed = new Secret({ size: 20 });
    const cred = otpCredential({ secretBase32: seed.base32, digits: 6, period: 30, algorithm: 'SHA1' }, 0);
    const data = JSON.parse(cred.credentialData);
    assert.deepEqual(data, { subType: 'totp', digits: 6, counter: 0, period: 30, algorithm: 'HmacSHA1', secretEncoding: 'BASE32' });
    assert.deepEqual(JSON.parse(cred.secretData), { value: seed.base32 });
    const { secretEncoding: _dropped, ...without } = data;
    const naive = { ...cred, credentialData: JSON.stringify(without) };
    const app = new TOTP({ secret: seed, digits: 6, period: 30, algorithm: 'SHA1' });
    const differ = [1, 2, 3, 4, 5].filter((i) => keycloakCode(naive, i * 30_000) !== app.generate({ timestamp: i * 30_000 })).length;
    assert.ok(differ >= 4, 'the raw-text reading gives other codes');
  });

  it('refuses a seed that is not upper-case base32', () => {
    assert.throws(() => otpCredential({ secretBase32: 'not base32!', digits: 6, period: 30, algorithm: 'SHA1' }, 0));
  });
});
