// One invalid fixture per rule: fixtures/identity/invalid/<code>.json is the minimal valid document with exactly
// that rule broken, so each must produce findings with that code and no other.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IDENTITY_CODES, IDENTITY_RULES, readIdentityFile, validateIdentityDocument } from '../../src/identity/validate.ts';

const DIR = 'fixtures/identity/invalid';
const MINIMAL = JSON.parse(readFileSync('fixtures/identity/minimal.json', 'utf8'));
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

async function findingsOf(path: string) {
  const r = await readIdentityFile(path);
  return 'finding' in r ? [r.finding] : validateIdentityDocument(r.data, path);
}

describe('identity rules: one invalid fixture per rule', () => {
  it('every cross-entity rule has its fixture', () => {
    const have = new Set(files.map((f) => f.replace(/\.json$/, '')));
    for (const code of Object.keys(IDENTITY_RULES)) assert.ok(have.has(code), `missing ${DIR}/${code}.json`);
  });

  for (const file of files) {
    const code = file.replace(/\.json$/, '');
    it(`${code}`, async () => {
      assert.ok(IDENTITY_CODES.includes(code), `${code} is a known code`);
      const findings = await findingsOf(join(DIR, file));
      assert.ok(findings.length > 0, 'the fixture is rejected');
      assert.deepEqual([...new Set(findings.map((f) => f.code))], [code], JSON.stringify(findings, null, 1));
      for (const f of findings) {
        assert.equal(f.severity, 'error');
        assert.equal(f.source, join(DIR, file));
        assert.equal(typeof f.path, 'string');
        assert.ok(f.path === '' || f.path!.startsWith('/'), `JSON pointer: ${f.path}`);
        assert.ok(f.message.length > 0);
      }
    });
  }

  it('points at the offending value', async () => {
    const [f] = await findingsOf(join(DIR, 'identity.membership_unknown_user.json'));
    assert.equal(f!.path, '/memberships/1/user_id');
    assert.match(f!.message, /u-404/);
    const [w] = await findingsOf(join(DIR, 'identity.redirect_uri_wildcard.json'));
    assert.equal(w!.path, '/clients/0/redirect_uris/1');
    const [s] = await findingsOf(join(DIR, 'identity.schema.required.json'));
    assert.equal(s!.path, '/users/0/email');
  });

  it('redirect URIs: loopback http and private-use schemes pass; javascript:, relative and http elsewhere do not', () => {
    const check = (uri: string) => {
      const doc = JSON.parse(JSON.stringify(MINIMAL));
      doc.clients[0].redirect_uris = [uri];
      return validateIdentityDocument(doc, 'x').map((f) => f.code);
    };
    assert.deepEqual(check('http://localhost:8080/cb'), []);
    assert.deepEqual(check('http://[::1]:8080/cb'), []);
    assert.deepEqual(check('com.example.app:/oauth2redirect'), []);
    assert.deepEqual(check('javascript:alert(1)'), ['identity.redirect_uri_invalid']);
    assert.deepEqual(check('/relative/cb'), ['identity.redirect_uri_invalid']);
    assert.deepEqual(check('http://localhost.evil.example/cb'), ['identity.redirect_uri_insecure']);
    assert.deepEqual(check('https://app.example/*'), ['identity.redirect_uri_wildcard']);
  });
});
