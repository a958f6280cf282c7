// REST routes under /v1 for keys and crypto operations. Handlers only translate HTTP <-> service calls;
// authentication and authorization ran before them (see route config `security`).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { JsonWebKey } from 'node:crypto';
import { operationContext } from '../../authn/hook.ts';
import { badRequest } from '../../core/problem.ts';
import { generatedKeyId, type KeyService } from '../service.ts';
import { type ProviderName, providerUnsupported } from '../providers/index.ts';
import { type EcdsaFormat, type HashAlgorithm, type KeyState, type KeyType, type Labels, LABEL_KEY_RE, isSystemKeyId, isValidLabelValue, type RsaPadding } from '../types.ts';
import { fromB64, keyJson, optionalB64, publicKeyJson } from './codec.ts';
import * as S from './schemas.ts';

type IdReq = FastifyRequest<{ Params: { id: string } }>;
const idOf = (req: FastifyRequest) => (req.params as { id: string }).id;
const fieldCodes = S.keyFieldCodes;
const key = (action: Parameters<typeof onKey>[0]) => ({ security: { authz: onKey(action) }, fieldCodes });
function onKey(action: 'kms:DescribeKey' | 'kms:GetPublicKey' | 'kms:Sign' | 'kms:Verify' | 'kms:Encrypt' | 'kms:Decrypt' | 'kms:GenerateDataKey' | 'kms:GenerateMac' | 'kms:VerifyMac' | 'kms:RotateKey' | 'kms:DisableKey' | 'kms:EnableKey' | 'kms:ReleaseKey' | 'kms:CancelKeyRelease' | 'kms:DestroyKey' | 'kms:SignJwt') {
  return (req: FastifyRequest) => [{ action, keyId: idOf(req) }];
}

interface SignBody {
  message?: string;
  digest?: string;
  hash_algorithm?: HashAlgorithm;
  rsa_padding?: RsaPadding;
  signature_format?: EcdsaFormat;
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

export async function v1KeyRoutes(app: FastifyInstance, opts: { keys: KeyService }) {
  const { keys } = opts;
  const tags = ['keys'];

  app.post('/keys', {
    schema: { tags, summary: 'Create a key', body: S.createKeyBody },
    // A generated id is chosen before authorization, so the caller is authorized for the id it will get.
    preValidation: async (req) => {
      const b = req.body as { key_id?: unknown } | undefined;
      if (b && typeof b === 'object' && !Array.isArray(b) && b.key_id === undefined) b.key_id = generatedKeyId();
    },
    config: {
      security: {
        authz: (req) => {
          const b = req.body as { key_id?: string; overwrite?: boolean };
          return [{ action: 'kms:CreateKey', keyId: b.key_id!, overwrite: b.overwrite === true }];
        },
      },
      fieldCodes,
    },
  }, async (req, reply) => {
    const b = req.body as { key_id?: string; key_type: KeyType; labels?: Labels; description?: string; overwrite?: boolean; provider?: ProviderName };
    const view = await keys.create(operationContext(req), { id: b.key_id, type: b.key_type, labels: b.labels, description: b.description, overwrite: b.overwrite, provider: b.provider });
    return reply.status(201).send(keyJson(view));
  });

  app.post('/keys/import', {
    schema: { tags, summary: 'Import a key (BYOK: PKCS#8 PEM, JWK or raw secret) or reference one its owner holds in an HSM (HYOK: provider + external_id)', body: S.importKeyBody },
    config: {
      security: {
        authz: (req) => {
          const b = req.body as { key_id: string; overwrite?: boolean };
          // Importing over an existing key needs the import permission and the overwrite permission.
          const importing = { action: 'kms:ImportKey' as const, keyId: b.key_id };
          return b.overwrite === true ? [importing, { ...importing, overwrite: true }] : [importing];
        },
      },
      fieldCodes,
    },
  }, async (req, reply) => {
    const b = req.body as {
      key_id: string; key_type: KeyType; private_key_pem?: string; jwk?: JsonWebKey; key_material?: string; labels?: Labels; description?: string; overwrite?: boolean;
      provider?: ProviderName; external_id?: string; external_public_id?: string;
    };
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
    schema: { tags, summary: 'List keys (cursor paging; filter by state and labels)', querystring: S.listKeysQuery },
    config: { security: { authz: () => [{ action: 'kms:ListKeys' }] }, fieldCodes },
  }, async (req) => {
    const q = req.query as { cursor?: string; limit?: string; state?: KeyState; label?: string; provider?: ProviderName };
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (limit < 1 || limit > 1000) throw badRequest('request.invalid_limit', 'limit is 1-1000');
    const page = await keys.list(operationContext(req), { cursor: q.cursor, limit, state: q.state, labels: parseLabelFilter(q.label), provider: q.provider });
    return { keys: page.items.map(keyJson), next_cursor: page.nextCursor };
  });

  app.get('/keys/:id', { schema: { tags, summary: 'Key metadata and versions', params: S.keyIdParams }, config: key('kms:DescribeKey') }, async (req: IdReq) =>
    keyJson(await keys.get(operationContext(req), req.params.id)),
  );

  app.get('/keys/:id/public-key', {
    schema: { tags, summary: 'Public key of a version (newest by default) as PEM and JWK', params: S.keyIdParams, querystring: S.publicKeyQuery },
    config: key('kms:GetPublicKey'),
  }, async (req: IdReq) => {
    const q = req.query as { version?: string };
    return publicKeyJson(await keys.publicKey(operationContext(req), req.params.id, q.version === undefined ? undefined : Number(q.version)));
  });

  app.get('/keys/:id/jwks', {
    schema: { tags, summary: 'JWKS of every version not destroyed (kid = fingerprint + version)', params: S.keyIdParams },
    config: key('kms:GetPublicKey'),
  }, async (req: IdReq) => keys.jwks(operationContext(req), req.params.id));

  const lifecycle = [
    ['disable', 'kms:DisableKey', 'Disable: no signing, encryption or MAC until enabled', (id: string, r: FastifyRequest) => keys.disable(operationContext(r), id)],
    ['enable', 'kms:EnableKey', 'Enable a disabled key', (id: string, r: FastifyRequest) => keys.enable(operationContext(r), id)],
    ['release', 'kms:ReleaseKey', 'Release (SPIRL): no new signatures; destroyed after the grace period', (id: string, r: FastifyRequest) => keys.release(operationContext(r), id)],
    ['cancel-release', 'kms:CancelKeyRelease', 'Cancel a release within the grace period', (id: string, r: FastifyRequest) => keys.cancelRelease(operationContext(r), id)],
    ['destroy', 'kms:DestroyKey', 'Destroy: wipe every version\'s material now', (id: string, r: FastifyRequest) => keys.destroy(operationContext(r), id)],
  ] as const;
  for (const [path, action, summary, run] of lifecycle) {
    app.post(`/keys/:id/${path}`, { schema: { tags, summary, params: S.keyIdParams }, config: key(action) }, async (req: IdReq) => keyJson(await run(req.params.id, req)));
  }
  // Keyward's own keys (keyward-…) rotate under their own, explicit-only permission; every other use is refused.
  app.post('/keys/:id/rotate', {
    schema: { tags, summary: 'Rotate: add a new version; signing uses it from now on', params: S.keyIdParams },
    config: { security: { authz: (req) => [{ action: isSystemKeyId(idOf(req)) ? 'sys:RotateSystemKey' : 'kms:RotateKey', keyId: idOf(req) }] } },
  }, async (req: IdReq) => {
    const ctx = operationContext(req);
    return keyJson(await (isSystemKeyId(req.params.id) ? keys.rotateSystemKey(ctx, req.params.id) : keys.rotate(ctx, req.params.id)));
  });

  const crypto = ['crypto'];
  app.post('/keys/:id/sign', {
    schema: { tags: crypto, summary: 'Sign a message or a precomputed digest', params: S.keyIdParams, body: S.signBody, response: S.signResponse },
    config: key('kms:Sign'),
  }, async (req: IdReq) => {
    const r = await keys.sign(operationContext(req), req.params.id, signRequest((req.body ?? {}) as SignBody));
    return { key_id: req.params.id, key_version: r.version, signature: r.signature.toString('base64'), key_fingerprint: r.fingerprint, algorithm: r.algorithm };
  });

  app.post('/keys/:id/verify', {
    schema: { tags: crypto, summary: 'Verify a signature (every version not destroyed, or the given one)', params: S.keyIdParams, body: S.verifyBody },
    config: key('kms:Verify'),
  }, async (req: IdReq) => {
    const b = req.body as SignBody & { signature: string; version?: number };
    const r = await keys.verify(operationContext(req), req.params.id, { ...signRequest(b), signature: fromB64('signature', b.signature), version: b.version });
    return { key_id: req.params.id, valid: r.valid, key_version: r.version };
  });

  app.post('/keys/:id/encrypt', {
    schema: { tags: crypto, summary: 'Encrypt (AES-256-GCM; versioned header at the front)', params: S.keyIdParams, body: S.encryptBody },
    config: key('kms:Encrypt'),
  }, async (req: IdReq) => {
    const b = req.body as { plaintext: string; associated_data?: string };
    const r = await keys.encrypt(operationContext(req), req.params.id, { plaintext: fromB64('plaintext', b.plaintext), aad: optionalB64('associated_data', b.associated_data) });
    return { key_id: req.params.id, key_version: r.version, ciphertext: r.ciphertext.toString('base64') };
  });

  app.post('/keys/:id/decrypt', {
    schema: { tags: crypto, summary: 'Decrypt a ciphertext from encrypt or datakey', params: S.keyIdParams, body: S.decryptBody },
    config: key('kms:Decrypt'),
  }, async (req: IdReq) => {
    const b = req.body as { ciphertext: string; associated_data?: string };
    const r = await keys.decrypt(operationContext(req), req.params.id, { ciphertext: fromB64('ciphertext', b.ciphertext), aad: optionalB64('associated_data', b.associated_data) });
    return { key_id: req.params.id, key_version: r.version, plaintext: r.plaintext.toString('base64') };
  });

  app.post('/keys/:id/datakey', {
    schema: { tags: crypto, summary: 'Generate a data key: plaintext and the same key wrapped under this key', params: S.keyIdParams, body: S.dataKeyBody },
    config: { ...key('kms:GenerateDataKey'), fieldCodes: { ...fieldCodes, bytes: 'crypto.data_key_length' } },
  }, async (req: IdReq) => {
    const b = (req.body ?? {}) as { bytes?: 16 | 32 | 64; associated_data?: string };
    const r = await keys.generateDataKey(operationContext(req), req.params.id, { bytes: b.bytes ?? 32, aad: optionalB64('associated_data', b.associated_data) });
    return { key_id: req.params.id, key_version: r.version, plaintext: r.plaintext.toString('base64'), ciphertext: r.ciphertext.toString('base64') };
  });

  app.post('/keys/:id/mac', {
    schema: { tags: crypto, summary: 'HMAC-SHA256 of a message', params: S.keyIdParams, body: S.macBody },
    config: key('kms:GenerateMac'),
  }, async (req: IdReq) => {
    const b = req.body as { message: string };
    const r = await keys.mac(operationContext(req), req.params.id, { message: fromB64('message', b.message) });
    return { key_id: req.params.id, key_version: r.version, mac: r.mac.toString('base64') };
  });

  app.post('/keys/:id/mac/verify', {
    schema: { tags: crypto, summary: 'Verify an HMAC (constant time)', params: S.keyIdParams, body: S.macVerifyBody },
    config: key('kms:VerifyMac'),
  }, async (req: IdReq) => {
    const b = req.body as { message: string; mac: string; version?: number };
    const r = await keys.verifyMac(operationContext(req), req.params.id, { message: fromB64('message', b.message), mac: fromB64('mac', b.mac), version: b.version });
    return { key_id: req.params.id, valid: r.valid, key_version: r.version };
  });

  app.post('/keys/:id/jwt', {
    schema: { tags: crypto, summary: 'Sign a JWT with the key (kid = fingerprint + version)', params: S.keyIdParams, body: S.jwtBody },
    config: key('kms:SignJwt'),
  }, async (req: IdReq) => {
    const b = req.body as { payload: Record<string, unknown>; typ?: string; rsa_padding?: RsaPadding };
    const r = await keys.signJwt(operationContext(req), req.params.id, { payload: b.payload, typ: b.typ, rsaPadding: b.rsa_padding });
    return { key_id: req.params.id, key_version: r.version, kid: r.kid, alg: r.algorithm, jwt: r.jwt };
  });

  app.post('/random', {
    schema: { tags: crypto, summary: 'Random bytes from the CSPRNG', body: S.randomBody },
    config: { security: { authz: () => [{ action: 'kms:GenerateRandom' }] }, fieldCodes: { bytes: 'crypto.random_length' } },
  }, async (req) => {
    const b = req.body as { bytes: number };
    return { random: (await keys.random(operationContext(req), b.bytes)).toString('base64') };
  });
}
