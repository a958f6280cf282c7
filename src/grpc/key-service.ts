// keyward.v1.KeyService: each RPC is its REST route (src/keys/routes/v1.ts) on another wire. A message becomes the
// REST body it stands for (bytes as base64), is validated by the same schema with the same field codes, authorized
// for the same targets, and served by the same key service calls; responses are the REST JSON with bytes for base64.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { OperationContext } from '../authn/context.ts';
import type { Action } from '../core/actions.ts';
import { badRequest } from '../core/problem.ts';
import type { ProviderName } from '../keys/providers/index.ts';
import { fromB64, keyJson, optionalB64, publicKeyJson } from '../keys/routes/codec.ts';
import * as S from '../keys/routes/schemas.ts';
import { parseLabelFilter, signRequest } from '../keys/routes/v1.ts';
import { generatedKeyId, type KeyService } from '../keys/service.ts';
import { type EcdsaFormat, type HashAlgorithm, isSystemKeyId, type KeyState, type KeyType, type Labels, type RsaPadding } from '../keys/types.ts';
import type { FieldCodes } from '../http/errors.ts';
import { type CallDeps, compile, type RpcSpec, unary } from './call.ts';
import { ijsonViolation } from '../audit/strict-json.ts';

export const KEY_SERVICE = 'keyward.v1.KeyService';

const b64 = (v: Buffer | undefined) => v?.toString('base64');
/** A proto3 `bytes` field without presence: unset is empty, which REST sends as "". */
const b64Always = (v: Buffer | undefined) => (v ?? Buffer.alloc(0)).toString('base64');
/** Drops unset fields, so the body has exactly the members REST would have been sent. */
function defined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
const bodySchema = (schema: object, fieldCodes: FieldCodes = S.keyFieldCodes) => ({ validate: compile(schema), fieldCodes, context: 'body' as const });
const querySchema = (schema: object) => ({ validate: compile(schema), fieldCodes: S.keyFieldCodes, context: 'querystring' as const });

type Ref = { key_id: string };
type SignMessage = Ref & { message?: Buffer; digest?: Buffer; hash_algorithm?: string; rsa_padding?: string; signature_format?: string };
type SignBody = { message?: string; digest?: string; hash_algorithm?: HashAlgorithm; rsa_padding?: RsaPadding; signature_format?: EcdsaFormat };
const signBodyOf = (m: SignMessage): SignBody =>
  defined({ message: b64(m.message), digest: b64(m.digest), hash_algorithm: m.hash_algorithm, rsa_padding: m.rsa_padding, signature_format: m.signature_format }) as SignBody;

/** JSON claims read as REST's parser reads a body: prototype keys are refused, not kept, and so is what is not I-JSON. */
function claimsOf(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text, (k, v: unknown) => {
      if (k === '__proto__' || k === 'constructor') throw new SyntaxError('prototype key');
      return v;
    });
  } catch {
    throw badRequest('request.malformed_json', 'payload_json is not valid JSON');
  }
  const violation = ijsonViolation(text, value);
  if (violation !== undefined) throw badRequest('request.malformed_json', `payload_json is not I-JSON: ${violation}`);
  return value;
}

export function keyServiceImplementation(deps: CallDeps, keys: KeyService): UntypedServiceImplementation {
  const rpc = <M, B>(name: string, spec: RpcSpec<M, B>) => [name, unary(deps, `/${KEY_SERVICE}/${name}`, spec)] as const;
  /** An RPC on one key: REST's path id is the message's key_id. */
  const onKey = <M extends Ref, B>(name: string, action: Action, spec: Pick<RpcSpec<M, B>, 'body' | 'schema' | 'run'>) =>
    rpc<M, B>(name, { ...spec, keyId: (m) => m.key_id, targets: (m) => [{ action, keyId: m.key_id }] });
  /** An RPC on one key whose REST route takes no body. */
  const bare = (name: string, action: Action, run: (ctx: OperationContext, id: string) => Promise<unknown>) =>
    onKey<Ref, Record<string, never>>(name, action, { body: () => ({}), run: (ctx, m) => run(ctx, m.key_id) });

  const table = [
    rpc<{ key_id?: string; key_type?: string; labels?: Labels; description?: string; overwrite?: boolean; provider?: string }, { key_id: string; key_type: KeyType; labels?: Labels; description?: string; overwrite?: boolean; provider?: ProviderName }>('CreateKey', {
      // A generated id is chosen before authorization, so the caller is authorized for the id it will get.
      body: (m) => defined({ ...m, key_id: m.key_id ?? generatedKeyId() }) as never,
      schema: bodySchema(S.createKeyBody),
      targets: (_m, b) => [{ action: 'kms:CreateKey', keyId: b.key_id, overwrite: b.overwrite === true }],
      run: async (ctx, _m, b) => keyJson(await keys.create(ctx, { id: b.key_id, type: b.key_type, labels: b.labels, description: b.description, overwrite: b.overwrite, provider: b.provider })),
    }),
    bare('GetKey', 'kms:DescribeKey', async (ctx, id) => keyJson(await keys.get(ctx, id))),
    rpc<{ cursor?: string; limit?: number; state?: string; provider?: string; label?: string }, { cursor?: string; limit?: string; state?: KeyState; provider?: ProviderName; label?: string }>('ListKeys', {
      body: (m) => defined({ ...m, limit: m.limit === undefined ? undefined : String(m.limit) }) as never,
      schema: querySchema(S.listKeysQuery),
      targets: () => [{ action: 'kms:ListKeys' }],
      run: async (ctx, _m, q) => {
        const limit = q.limit === undefined ? 100 : Number(q.limit);
        if (limit < 1 || limit > 1000) throw badRequest('request.invalid_limit', 'limit is 1-1000');
        const page = await keys.list(ctx, { cursor: q.cursor, limit, state: q.state, labels: parseLabelFilter(q.label), provider: q.provider });
        return { keys: page.items.map(keyJson), next_cursor: page.nextCursor };
      },
    }),
    onKey<Ref & { version?: number }, { version?: string }>('GetPublicKey', 'kms:GetPublicKey', {
      body: (m) => defined({ version: m.version === undefined ? undefined : String(m.version) }),
      schema: querySchema(S.publicKeyQuery),
      run: async (ctx, m, q) => publicKeyJson(await keys.publicKey(ctx, m.key_id, q.version === undefined ? undefined : Number(q.version))),
    }),
    bare('GetJwks', 'kms:GetPublicKey', (ctx, id) => keys.jwks(ctx, id)),
    // Keyward's own keys (keyward-…) rotate under their own, explicit-only permission; every other use is refused.
    rpc<Ref, Record<string, never>>('RotateKey', {
      body: () => ({}),
      keyId: (m) => m.key_id,
      targets: (m) => [{ action: isSystemKeyId(m.key_id) ? 'sys:RotateSystemKey' : 'kms:RotateKey', keyId: m.key_id }],
      run: async (ctx, m) => keyJson(await (isSystemKeyId(m.key_id) ? keys.rotateSystemKey(ctx, m.key_id) : keys.rotate(ctx, m.key_id))),
    }),
    bare('DisableKey', 'kms:DisableKey', async (ctx, id) => keyJson(await keys.disable(ctx, id))),
    bare('EnableKey', 'kms:EnableKey', async (ctx, id) => keyJson(await keys.enable(ctx, id))),
    bare('DestroyKey', 'kms:DestroyKey', async (ctx, id) => keyJson(await keys.destroy(ctx, id))),

    onKey<SignMessage, SignBody>('Sign', 'kms:Sign', {
      body: signBodyOf,
      schema: bodySchema(S.signBody),
      run: async (ctx, m, b) => {
        const r = await keys.sign(ctx, m.key_id, signRequest(b));
        return { key_id: m.key_id, key_version: r.version, signature: r.signature, key_fingerprint: r.fingerprint, algorithm: r.algorithm };
      },
    }),
    onKey<SignMessage & { signature?: Buffer; version?: number }, SignBody & { signature: string; version?: number }>('Verify', 'kms:Verify', {
      body: (m) => defined({ ...signBodyOf(m), signature: b64Always(m.signature), version: m.version }),
      schema: bodySchema(S.verifyBody),
      run: async (ctx, m, b) => {
        const r = await keys.verify(ctx, m.key_id, { ...signRequest(b), signature: fromB64('signature', b.signature), version: b.version });
        return { key_id: m.key_id, valid: r.valid, key_version: r.version };
      },
    }),
    onKey<Ref & { plaintext?: Buffer; associated_data?: Buffer }, { plaintext: string; associated_data?: string }>('Encrypt', 'kms:Encrypt', {
      body: (m) => defined({ plaintext: b64Always(m.plaintext), associated_data: b64(m.associated_data) }),
      schema: bodySchema(S.encryptBody),
      run: async (ctx, m, b) => {
        const r = await keys.encrypt(ctx, m.key_id, { plaintext: fromB64('plaintext', b.plaintext), aad: optionalB64('associated_data', b.associated_data) });
        return { key_id: m.key_id, key_version: r.version, ciphertext: r.ciphertext };
      },
    }),
    onKey<Ref & { ciphertext?: Buffer; associated_data?: Buffer }, { ciphertext: string; associated_data?: string }>('Decrypt', 'kms:Decrypt', {
      body: (m) => defined({ ciphertext: b64Always(m.ciphertext), associated_data: b64(m.associated_data) }),
      schema: bodySchema(S.decryptBody),
      run: async (ctx, m, b) => {
        const r = await keys.decrypt(ctx, m.key_id, { ciphertext: fromB64('ciphertext', b.ciphertext), aad: optionalB64('associated_data', b.associated_data) });
        return { key_id: m.key_id, key_version: r.version, plaintext: r.plaintext };
      },
    }),
    onKey<Ref & { bytes?: number; associated_data?: Buffer }, { bytes?: 16 | 32 | 64; associated_data?: string }>('GenerateDataKey', 'kms:GenerateDataKey', {
      body: (m) => defined({ bytes: m.bytes as 16 | 32 | 64 | undefined, associated_data: b64(m.associated_data) }),
      schema: bodySchema(S.dataKeyBody, { ...S.keyFieldCodes, bytes: 'crypto.data_key_length' }),
      run: async (ctx, m, b) => {
        const r = await keys.generateDataKey(ctx, m.key_id, { bytes: b.bytes ?? 32, aad: optionalB64('associated_data', b.associated_data) });
        return { key_id: m.key_id, key_version: r.version, plaintext: r.plaintext, ciphertext: r.ciphertext };
      },
    }),
    onKey<Ref & { message?: Buffer }, { message: string }>('GenerateMac', 'kms:GenerateMac', {
      body: (m) => ({ message: b64Always(m.message) }),
      schema: bodySchema(S.macBody),
      run: async (ctx, m, b) => {
        const r = await keys.mac(ctx, m.key_id, { message: fromB64('message', b.message) });
        return { key_id: m.key_id, key_version: r.version, mac: r.mac };
      },
    }),
    onKey<Ref & { message?: Buffer; mac?: Buffer; version?: number }, { message: string; mac: string; version?: number }>('VerifyMac', 'kms:VerifyMac', {
      body: (m) => defined({ message: b64Always(m.message), mac: b64Always(m.mac), version: m.version }),
      schema: bodySchema(S.macVerifyBody),
      run: async (ctx, m, b) => {
        const r = await keys.verifyMac(ctx, m.key_id, { message: fromB64('message', b.message), mac: fromB64('mac', b.mac), version: b.version });
        return { key_id: m.key_id, valid: r.valid, key_version: r.version };
      },
    }),
    onKey<Ref & { payload_json?: string; typ?: string; rsa_padding?: string }, { payload: Record<string, unknown>; typ?: string; rsa_padding?: RsaPadding }>('SignJwt', 'kms:SignJwt', {
      body: (m) => defined({ payload: claimsOf(m.payload_json ?? '') as Record<string, unknown>, typ: m.typ, rsa_padding: m.rsa_padding as RsaPadding | undefined }),
      schema: bodySchema(S.jwtBody),
      run: async (ctx, m, b) => {
        const r = await keys.signJwt(ctx, m.key_id, { payload: b.payload, typ: b.typ, rsaPadding: b.rsa_padding });
        return { key_id: m.key_id, key_version: r.version, kid: r.kid, alg: r.algorithm, jwt: r.jwt };
      },
    }),
    rpc<{ bytes?: number }, { bytes: number }>('GenerateRandom', {
      body: (m) => defined({ bytes: m.bytes }) as { bytes: number },
      schema: bodySchema(S.randomBody, { bytes: 'crypto.random_length' }),
      targets: () => [{ action: 'kms:GenerateRandom' }],
      run: async (ctx, _m, b) => ({ random: await keys.random(ctx, b.bytes) }),
    }),
  ];
  return Object.fromEntries(table);
}
