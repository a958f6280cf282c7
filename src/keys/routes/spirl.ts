// The SPIRL Key Manager webhook contract (spirl-key-manager-extension.txt), so a trust-domain server can use
// Keyward unchanged: POST /keys, GET /keys, POST /keys/{id}/sign, POST /keys/{id}/release.
// The webhook manages only the keys labelled keyward.dev/source=spirl (those it created, or keys imported through
// /v1 with that label): the trust-domain server lists, signs with and releases them, and never sees or destroys
// Keyward's other keys, such as the identity provider's.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { operationContext } from '../../authn/hook.ts';
import { authzFrom, StringEnum, type TypeBoxTypeProvider } from '../../http/typebox.ts';
import { KEY_TYPES, publicKeyPem, signsDigests } from '../families/index.ts';
import type { KeyScope, KeyService, KeyView } from '../service.ts';
import { HASH_ALGORITHMS } from '../types.ts';
import { fromB64 } from './codec.ts';
import { KEY_PROBLEMS, keyIdParams } from './schemas.ts';

const tags = ['spirl'];
// The webhook signs digests only, which pure Ed25519 cannot: an Ed25519 key made here could never sign.
const SPIRL_KEY_TYPES = KEY_TYPES.filter(signsDigests);
// A labelled key of another type (an AES or Ed25519 key given the label through /v1) is as unknown to the webhook
// for signing and release as it is to its listing: release would otherwise destroy a key the webhook never showed.
const SPIRL: KeyScope = { labels: { 'keyward.dev/source': 'spirl' }, types: SPIRL_KEY_TYPES };

function spirlKey(view: KeyView) {
  const v = view.versions.find((x) => x.version === view.record.currentVersion)!;
  return { key_id: view.record.id, public_key: publicKeyPem(v.publicKeySpki!), fingerprint: v.fingerprint };
}

// The contract's shapes. Bodies stay open to members beyond the contract's: a trust-domain server sending more must
// not break.
const publicKey = { public_key: Type.String({ description: 'SPKI PEM' }), fingerprint: Type.String() };
const create = {
  tags,
  summary: 'SPIRL: create a signing key',
  body: Type.Object({ key_id: Type.String(), key_type: StringEnum(SPIRL_KEY_TYPES) }),
  response: { 201: Type.Object(publicKey) },
};
const sign = {
  tags,
  summary: 'SPIRL: sign a digest (ECDSA signatures are ASN.1 DER, as Go\'s crypto.Signer returns)',
  params: keyIdParams,
  body: Type.Object({ digest: Type.String({ maxLength: 200, description: 'base64' }), hash_algorithm: StringEnum(HASH_ALGORITHMS) }),
  response: { 200: Type.Object({ signature: Type.String({ description: 'base64' }), key_fingerprint: Type.String() }) },
};
const release = {
  tags,
  summary: 'SPIRL: the key is no longer in active use; destroyed after the grace period',
  params: keyIdParams,
  response: { 200: Type.Object({}, { description: 'An empty object' }) },
};

export async function spirlRoutes(plain: FastifyInstance, opts: { keys: KeyService }) {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const { keys } = opts;

  app.post('/keys', {
    schema: create,
    config: { security: { authz: authzFrom(create, ({ body }) => [{ action: 'kms:CreateKey', keyId: body.key_id }]) }, problems: KEY_PROBLEMS.create },
  }, async (req, reply) => {
    const view = await keys.create(operationContext(req), { id: req.body.key_id, type: req.body.key_type, labels: SPIRL.labels });
    const { public_key, fingerprint } = spirlKey(view);
    return reply.status(201).send({ public_key, fingerprint });
  });

  app.get('/keys', {
    schema: {
      tags,
      summary: 'SPIRL: list the webhook\'s keys (labelled keyward.dev/source=spirl) that are enabled or released',
      response: { 200: Type.Object({ keys: Type.Array(Type.Object({ key_id: Type.String(), ...publicKey })) }) },
    },
    config: { security: { authz: () => [{ action: 'kms:ListKeys' }] }, problems: KEY_PROBLEMS.list },
  }, async (req) => {
    const ctx = operationContext(req);
    const out: Array<ReturnType<typeof spirlKey>> = [];
    // A released key stays listed until destroyed: outstanding SVIDs still need its public key.
    for (const state of ['enabled', 'released'] as const) {
      let cursor: string | undefined;
      do {
        const page = await keys.list(ctx, { cursor, limit: 1000, state, labels: SPIRL.labels });
        for (const view of page.items) if (SPIRL_KEY_TYPES.includes(view.record.type)) out.push(spirlKey(view));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
    out.sort((a, b) => (a.key_id < b.key_id ? -1 : 1));
    return { keys: out };
  });

  app.post('/keys/:id/sign', {
    schema: sign,
    config: { security: { authz: authzFrom(sign, ({ params }) => [{ action: 'kms:Sign', keyId: params.id }]) }, problems: KEY_PROBLEMS.sign },
  }, async (req) => {
    const b = req.body;
    const r = await keys.sign(operationContext(req), req.params.id, {
      digest: fromB64('digest', b.digest),
      hashAlgorithm: b.hash_algorithm,
      // The defaults are what Go's crypto.Signer returns: DER for ECDSA, and PKCS#1 v1.5 for RSA (PSS would need
      // PSSOptions, which the webhook cannot express).
    }, SPIRL);
    return { signature: r.signature.toString('base64'), key_fingerprint: r.fingerprint };
  });

  app.post('/keys/:id/release', {
    schema: release,
    config: { security: { authz: authzFrom(release, ({ params }) => [{ action: 'kms:ReleaseKey', keyId: params.id }]) }, problems: KEY_PROBLEMS.lifecycle },
  }, async (req, reply) => {
    await keys.release(operationContext(req), req.params.id, SPIRL);
    return reply.status(200).send({});
  });
}
