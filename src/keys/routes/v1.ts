// REST routes under /v1 for keys and crypto operations. Handlers only translate HTTP <-> service calls;
// authentication and authorization ran before them (see route config `security`). Every route is schema-first:
// the TypeBox schemas in schemas.ts validate the request, type the handler and document the route.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { operationContext } from '../../authn/hook.ts';
import { badRequest } from '../../core/problem.ts';
import type { ProblemCode } from '../../core/problem-codes.ts';
import { authzFrom, type TypeBoxTypeProvider } from '../../http/typebox.ts';
import { generatedKeyId, type KeyService } from '../service.ts';
import { providerUnsupported } from '../providers/index.ts';
import { type EcdsaFormat, type HashAlgorithm, type Labels, LABEL_KEY_RE, isSystemKeyId, isValidLabelValue, type RsaPadding } from '../types.ts';
import { fromB64, keyJson, optionalB64, publicKeyJson } from './codec.ts';
import * as S from './schemas.ts';

const fieldCodes = S.keyFieldCodes;
const byId = { params: S.keyIdParams };
type KeyAction = 'kms:DescribeKey' | 'kms:GetPublicKey' | 'kms:Sign' | 'kms:Verify' | 'kms:Encrypt' | 'kms:Decrypt' | 'kms:GenerateDataKey' | 'kms:GenerateMac' | 'kms:VerifyMac' | 'kms:RotateKey' | 'kms:DisableKey' | 'kms:EnableKey' | 'kms:ReleaseKey' | 'kms:CancelKeyRelease' | 'kms:DestroyKey' | 'kms:SignJwt';
const key = (action: KeyAction, problems: readonly ProblemCode[]) => ({ security: { authz: authzFrom(byId, (req) => [{ action, keyId: req.params.id }]) }, fieldCodes, problems });

interface SignBody {
  message?: string | undefined;
  digest?: string | undefined;
  hash_algorithm?: HashAlgorithm | undefined;
  rsa_padding?: RsaPadding | undefined;
  signature_format?: EcdsaFormat | undefined;
}

export function signRequest(b: SignBody) {
  return {
    message: optionalB64('message', b.message),
    digest: optionalB64('digest', b.digest),
    hashAlgorithm: b.hash_algorithm,
    rsaPadding: b.rsa_padding,
    signatureFormat: b.signature_format,
  };
}

export function parseLabelFilter(label: string | undefined): Labels | undefined {
  if (label === undefined) return undefined;
  const out: Labels = {};
  for (const pair of label.split(',')) {
    const i = pair.indexOf('=');
    const name = pair.slice(0, i);
    const value = pair.slice(i + 1);
    // Names follow the label grammar (which also keeps __proto__ and friends out of the filter object).
    if (i <= 0 || !LABEL_KEY_RE.test(name) || !isValidLabelValue(value)) {
      throw badRequest('request.invalid_label_filter', 'label filter is name=value[,name=value...] with label names of [a-z0-9._/-]');
    }
    out[name] = value;
  }
  return out;
}

export async function v1KeyRoutes(plain: FastifyInstance, opts: { keys: KeyService }) {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const { keys } = opts;
  const tags = ['keys'];
  // A route that takes no query refuses one, as bodies refuse an unknown member: `sign?version=2` would otherwise
  // sign with the newest version while the caller believed it had chosen one.
  app.addHook('onRoute', (route) => {
    if (route.schema !== undefined && route.schema.querystring === undefined) route.schema.querystring = S.noQuery;
  });

  const create = { tags, summary: 'Create a key', body: S.createKeyBody, response: { 201: S.keyView } };
  app.post('/keys', {
    schema: create,
    // A generated id is chosen before authorization, so the caller is authorized for the id it will get.
    preValidation: async (req) => {
      // Before validation the body is whatever JSON came; only an object without an id gets one.
      const b: unknown = req.body;
      if (b !== null && typeof b === 'object' && !Array.isArray(b) && !('key_id' in b)) Object.assign(b, { key_id: generatedKeyId() });
    },
    config: {
      security: { authz: authzFrom(create, ({ body }) => [{ action: 'kms:CreateKey', keyId: body.key_id ?? '', overwrite: body.overwrite === true }]) },
      fieldCodes,
      problems: S.KEY_PROBLEMS.create,
    },
  }, async (req, reply) => {
    const b = req.body;
    const view = await keys.create(operationContext(req), { id: b.key_id, type: b.key_type, labels: b.labels, description: b.description, overwrite: b.overwrite, provider: b.provider });
    return reply.status(201).send(keyJson(view));
  });

  const importing = {
    tags,
    summary: 'Import a key (BYOK: PKCS#8 PEM, JWK or raw secret) or reference one its owner holds in an HSM (HYOK: provider + external_id)',
    body: S.importKeyBody,
    response: { 201: S.keyView },
  };
  app.post('/keys/import', {
    schema: importing,
    config: {
      security: {
        authz: authzFrom(importing, ({ body }) => {
          // Importing over an existing key needs the import permission and the overwrite permission.
          const target = { action: 'kms:ImportKey' as const, keyId: body.key_id };
          return body.overwrite === true ? [target, { ...target, overwrite: true }] : [target];
        }),
      },
      fieldCodes,
      problems: S.KEY_PROBLEMS.import,
    },
  }, async (req, reply) => {
    const b = req.body;
    const ctx = operationContext(req);
    const material = b.private_key_pem !== undefined || b.jwk !== undefined || b.key_material !== undefined;
    if (b.external_id !== undefined || b.external_public_id !== undefined) {
      if (material) throw badRequest('key.import_invalid', 'give key material (BYOK) or external_id (HYOK), not both');
      if (b.external_id === undefined) throw badRequest('key.import_invalid', 'external_public_id comes with external_id');
      if (b.provider === undefined || b.provider === 'software') throw badRequest('key.import_invalid', 'an external key names its provider: pkcs11 or kmip');
      const view = await keys.importExternal(ctx, {
        id: b.key_id, type: b.key_type, provider: b.provider, externalId: b.external_id, externalPublicId: b.external_public_id, labels: b.labels, description: b.description, overwrite: b.overwrite,
      });
      return reply.status(201).send(keyJson(view));
    }
    // Key material goes to the software provider only: the HSM providers generate keys inside the HSM, or reference
    // a key already there (external_id).
    if (b.provider !== undefined && b.provider !== 'software') {
      throw providerUnsupported(b.provider, 'key material is not imported into the HSM; create the key there (POST /v1/keys) or reference one its owner holds with external_id');
    }
    const view = await keys.import(ctx, {
      id: b.key_id, type: b.key_type, pem: b.private_key_pem, jwk: b.jwk, rawBase64: b.key_material, labels: b.labels, description: b.description, overwrite: b.overwrite,
    });
    return reply.status(201).send(keyJson(view));
  });

  app.get('/keys', {
    schema: { tags, summary: 'List keys (cursor paging; filter by state and labels)', querystring: S.listKeysQuery, response: { 200: S.keyList } },
    config: { security: { authz: () => [{ action: 'kms:ListKeys' }] }, fieldCodes, problems: S.KEY_PROBLEMS.list },
  }, async (req) => {
    const q = req.query;
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (limit < 1 || limit > 1000) throw badRequest('request.invalid_limit', 'limit is 1-1000');
    const page = await keys.list(operationContext(req), { cursor: q.cursor, limit, state: q.state, labels: parseLabelFilter(q.label), provider: q.provider });
    return { keys: page.items.map(keyJson), next_cursor: page.nextCursor };
  });

  app.get('/keys/:id', { schema: { tags, summary: 'Key metadata and versions', params: S.keyIdParams, response: { 200: S.keyView } }, config: key('kms:DescribeKey', S.KEY_PROBLEMS.describe) }, async (req) =>
    keyJson(await keys.get(operationContext(req), req.params.id)),
  );

  app.get('/keys/:id/public-key', {
    schema: { tags, summary: 'Public key of a version (newest by default) as PEM and JWK', params: S.keyIdParams, querystring: S.publicKeyQuery, response: { 200: S.publicKeyResponse } },
    config: key('kms:GetPublicKey', S.KEY_PROBLEMS.publicKey),
  }, async (req) => {
    const q = req.query;
    return publicKeyJson(await keys.publicKey(operationContext(req), req.params.id, q.version === undefined ? undefined : Number(q.version)));
  });

  app.get('/keys/:id/jwks', {
    schema: { tags, summary: 'JWKS of every version not destroyed (kid = fingerprint + version)', params: S.keyIdParams, response: { 200: S.jwksResponse } },
    config: key('kms:GetPublicKey', S.KEY_PROBLEMS.jwks),
  }, async (req) => keys.jwks(operationContext(req), req.params.id));

  const lifecycle = [
    ['disable', 'kms:DisableKey', 'Disable: no signing, encryption or MAC until enabled', (id: string, r: FastifyRequest) => keys.disable(operationContext(r), id)],
    ['enable', 'kms:EnableKey', 'Enable a disabled key', (id: string, r: FastifyRequest) => keys.enable(operationContext(r), id)],
    ['release', 'kms:ReleaseKey', 'Release (SPIRL): no new signatures; destroyed after the grace period', (id: string, r: FastifyRequest) => keys.release(operationContext(r), id)],
    ['cancel-release', 'kms:CancelKeyRelease', 'Cancel a release within the grace period', (id: string, r: FastifyRequest) => keys.cancelRelease(operationContext(r), id)],
    ['destroy', 'kms:DestroyKey', 'Destroy: wipe every version\'s material now', (id: string, r: FastifyRequest) => keys.destroy(operationContext(r), id)],
  ] as const;
  for (const [path, action, summary, run] of lifecycle) {
    app.post(`/keys/:id/${path}`, { schema: { tags, summary, params: S.keyIdParams, response: { 200: S.keyView } }, config: key(action, S.KEY_PROBLEMS.lifecycle) }, async (req) => keyJson(await run(req.params.id, req)));
  }
  // Keyward's own keys (keyward-…) rotate under their own, explicit-only permission; every other use is refused.
  app.post('/keys/:id/rotate', {
    schema: { tags, summary: 'Rotate: add a new version; signing uses it from now on', params: S.keyIdParams, response: { 200: S.keyView } },
    config: { security: { authz: authzFrom(byId, ({ params: { id } }) => [{ action: isSystemKeyId(id) ? 'sys:RotateSystemKey' : 'kms:RotateKey', keyId: id }]) }, problems: S.KEY_PROBLEMS.rotate },
  }, async (req) => {
    const ctx = operationContext(req);
    return keyJson(await (isSystemKeyId(req.params.id) ? keys.rotateSystemKey(ctx, req.params.id) : keys.rotate(ctx, req.params.id)));
  });

  const crypto = ['crypto'];
  app.post('/keys/:id/sign', {
    schema: { tags: crypto, summary: 'Sign a message or a precomputed digest', params: S.keyIdParams, body: S.signBody, response: { 200: S.signResponse } },
    config: key('kms:Sign', S.KEY_PROBLEMS.sign),
  }, async (req) => {
    const r = await keys.sign(operationContext(req), req.params.id, signRequest(req.body));
    return { key_id: req.params.id, key_version: r.version, signature: r.signature.toString('base64'), key_fingerprint: r.fingerprint, algorithm: r.algorithm };
  });

  app.post('/keys/:id/verify', {
    schema: { tags: crypto, summary: 'Verify a signature (every version not destroyed, or the given one)', params: S.keyIdParams, body: S.verifyBody, response: { 200: S.verifyResponse } },
    config: key('kms:Verify', S.KEY_PROBLEMS.verify),
  }, async (req) => {
    const b = req.body;
    const r = await keys.verify(operationContext(req), req.params.id, { ...signRequest(b), signature: fromB64('signature', b.signature), version: b.version });
    return { key_id: req.params.id, valid: r.valid, key_version: r.version };
  });

  app.post('/keys/:id/encrypt', {
    schema: { tags: crypto, summary: 'Encrypt (AES-256-GCM; versioned header at the front)', params: S.keyIdParams, body: S.encryptBody, response: { 200: S.encryptResponse } },
    config: key('kms:Encrypt', S.KEY_PROBLEMS.encrypt),
  }, async (req) => {
    const b = req.body;
    const r = await keys.encrypt(operationContext(req), req.params.id, { plaintext: fromB64('plaintext', b.plaintext), aad: optionalB64('associated_data', b.associated_data) });
    return { key_id: req.params.id, key_version: r.version, ciphertext: r.ciphertext.toString('base64') };
  });

  app.post('/keys/:id/decrypt', {
    schema: { tags: crypto, summary: 'Decrypt a ciphertext from encrypt or datakey', params: S.keyIdParams, body: S.decryptBody, response: { 200: S.decryptResponse } },
    config: key('kms:Decrypt', S.KEY_PROBLEMS.decrypt),
  }, async (req) => {
    const b = req.body;
    const r = await keys.decrypt(operationContext(req), req.params.id, { ciphertext: fromB64('ciphertext', b.ciphertext), aad: optionalB64('associated_data', b.associated_data) });
    return { key_id: req.params.id, key_version: r.version, plaintext: r.plaintext.toString('base64') };
  });

  app.post('/keys/:id/datakey', {
    schema: { tags: crypto, summary: 'Generate a data key: plaintext and the same key wrapped under this key', params: S.keyIdParams, body: S.dataKeyBody, response: { 200: S.dataKeyResponse } },
    config: { ...key('kms:GenerateDataKey', S.KEY_PROBLEMS.datakey), fieldCodes: { ...fieldCodes, bytes: 'crypto.data_key_length' } },
  }, async (req) => {
    const b = req.body;
    const r = await keys.generateDataKey(operationContext(req), req.params.id, { bytes: b.bytes ?? 32, aad: optionalB64('associated_data', b.associated_data) });
    return { key_id: req.params.id, key_version: r.version, plaintext: r.plaintext.toString('base64'), ciphertext: r.ciphertext.toString('base64') };
  });

  app.post('/keys/:id/mac', {
    schema: { tags: crypto, summary: 'HMAC-SHA256 of a message', params: S.keyIdParams, body: S.macBody, response: { 200: S.macResponse } },
    config: key('kms:GenerateMac', S.KEY_PROBLEMS.mac),
  }, async (req) => {
    const r = await keys.mac(operationContext(req), req.params.id, { message: fromB64('message', req.body.message) });
    return { key_id: req.params.id, key_version: r.version, mac: r.mac.toString('base64') };
  });

  app.post('/keys/:id/mac/verify', {
    schema: { tags: crypto, summary: 'Verify an HMAC (constant time)', params: S.keyIdParams, body: S.macVerifyBody, response: { 200: S.verifyResponse } },
    config: key('kms:VerifyMac', S.KEY_PROBLEMS.macVerify),
  }, async (req) => {
    const b = req.body;
    const r = await keys.verifyMac(operationContext(req), req.params.id, { message: fromB64('message', b.message), mac: fromB64('mac', b.mac), version: b.version });
    return { key_id: req.params.id, valid: r.valid, key_version: r.version };
  });

  app.post('/keys/:id/jwt', {
    schema: { tags: crypto, summary: 'Sign a JWT with the key (kid = fingerprint + version)', params: S.keyIdParams, body: S.jwtBody, response: { 200: S.jwtResponse } },
    config: key('kms:SignJwt', S.KEY_PROBLEMS.jwt),
  }, async (req) => {
    const b = req.body;
    const r = await keys.signJwt(operationContext(req), req.params.id, { payload: b.payload, typ: b.typ, rsaPadding: b.rsa_padding });
    return { key_id: req.params.id, key_version: r.version, kid: r.kid, alg: r.algorithm, jwt: r.jwt };
  });

  app.post('/random', {
    schema: { tags: crypto, summary: 'Random bytes from the CSPRNG', body: S.randomBody, response: { 200: S.randomResponse } },
    config: { security: { authz: () => [{ action: 'kms:GenerateRandom' }] }, fieldCodes: { bytes: 'crypto.random_length' }, problems: S.KEY_PROBLEMS.random },
  }, async (req) => ({ random: (await keys.random(operationContext(req), req.body.bytes)).toString('base64') }));
}
