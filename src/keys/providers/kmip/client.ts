// KMIP 1.4 client for the operations a key provider needs: keys are created, used and destroyed inside the KMIP
// server; the only key material that ever crosses into this process is a public key (getPublicKey) or a key the
// caller registers on purpose (register, for hold-your-own-key). Nothing here logs; errors name ids and KMIP
// reasons, never data. What PyKMIP 0.10 (the test server) does and does not support is in README.md.
import { type KeyObject, createPublicKey, randomBytes } from 'node:crypto';
import {
  KmipError,
  KmipIllegalOperationError,
  KmipInvalidRequestError,
  KmipNotSupportedError,
  KmipPermissionDeniedError,
  KmipProtocolError,
  KmipServerError,
  type KmipStateName,
  KmipWrongStateError,
} from './errors.ts';
import { type ProtocolVersion, all, attribute, optional, parseResponse, protocolVersionItem, readAttributes, required, requiredStructure, requestMessage } from './messages.ts';
import {
  AttributeName,
  BlockCipherMode,
  CryptographicAlgorithm,
  HashingAlgorithm,
  KeyFormatType,
  NameType,
  ObjectType,
  Operation,
  type OperationCode,
  PaddingMethod,
  QueryFunction,
  RevocationReasonCode,
  State,
  Tag,
  UsageMask,
  ValidityIndicator,
} from './tags.ts';
import {
  type TtlvItem,
  type TtlvStructure,
  TtlvDecodeError,
  TtlvEncodeError,
  byteString,
  dateTime,
  decode,
  encode,
  enumeration,
  integer,
  structure,
  textString,
} from './ttlv.ts';
import { KmipTransport, type KmipTransportOptions } from './transport.ts';

export interface KmipClientOptions extends KmipTransportOptions {
  /** Protocol version sent in every request (default 1.4: PyKMIP reads GCM additional data and tags only from 1.4 on). */
  protocolVersion?: ProtocolVersion;
}

export type KmipObjectTypeName = 'certificate' | 'symmetric-key' | 'public-key' | 'private-key' | 'split-key' | 'template' | 'secret-data' | 'opaque-object';

export interface KmipObjectAttributes {
  id: string;
  objectType: KmipObjectTypeName | undefined;
  state: KmipStateName | undefined;
  /** 'AES', 'RSA', 'ECDSA', 'TRIPLE_DES' or `0x..` for algorithms the client has no name for. */
  algorithm: string | undefined;
  length: number | undefined;
  names: string[];
  usageMask: number | undefined;
  sensitive: boolean | undefined;
}

/** Signature schemes, named as in the KeyRack sign API. PSS uses the server's salt length (PyKMIP: the maximum). */
export type KmipSignatureAlgorithm =
  | 'RSA_PKCS1_V15_SHA256'
  | 'RSA_PKCS1_V15_SHA384'
  | 'RSA_PKCS1_V15_SHA512'
  | 'RSA_PSS_SHA256'
  | 'RSA_PSS_SHA384'
  | 'RSA_PSS_SHA512';

export type KmipRevocationReason = 'unspecified' | 'key-compromise' | 'affiliation-changed' | 'superseded' | 'cessation-of-operation' | 'privilege-withdrawn';

export interface KmipCiphertext {
  ciphertext: Buffer;
  iv: Buffer;
  tag: Buffer;
}

const STATE_NAMES: Record<number, KmipStateName> = {
  [State.PreActive]: 'pre-active',
  [State.Active]: 'active',
  [State.Deactivated]: 'deactivated',
  [State.Compromised]: 'compromised',
  [State.Destroyed]: 'destroyed',
  [State.DestroyedCompromised]: 'destroyed-compromised',
};

const OBJECT_TYPE_NAMES: Record<number, KmipObjectTypeName> = {
  [ObjectType.Certificate]: 'certificate',
  [ObjectType.SymmetricKey]: 'symmetric-key',
  [ObjectType.PublicKey]: 'public-key',
  [ObjectType.PrivateKey]: 'private-key',
  [ObjectType.SplitKey]: 'split-key',
  [ObjectType.Template]: 'template',
  [ObjectType.SecretData]: 'secret-data',
  [ObjectType.OpaqueObject]: 'opaque-object',
};

const ALGORITHM_NAMES: Record<number, string> = {
  [CryptographicAlgorithm.TripleDes]: 'TRIPLE_DES',
  [CryptographicAlgorithm.Aes]: 'AES',
  [CryptographicAlgorithm.Rsa]: 'RSA',
  [CryptographicAlgorithm.Ecdsa]: 'ECDSA',
};

const REVOCATION_CODES: Record<KmipRevocationReason, number> = {
  unspecified: RevocationReasonCode.Unspecified,
  'key-compromise': RevocationReasonCode.KeyCompromise,
  'affiliation-changed': RevocationReasonCode.AffiliationChanged,
  superseded: RevocationReasonCode.Superseded,
  'cessation-of-operation': RevocationReasonCode.CessationOfOperation,
  'privilege-withdrawn': RevocationReasonCode.PrivilegeWithdrawn,
};

const SIGNATURE_PARAMS: Record<KmipSignatureAlgorithm, { padding: number; hash: number }> = {
  RSA_PKCS1_V15_SHA256: { padding: PaddingMethod.Pkcs1v15, hash: HashingAlgorithm.Sha256 },
  RSA_PKCS1_V15_SHA384: { padding: PaddingMethod.Pkcs1v15, hash: HashingAlgorithm.Sha384 },
  RSA_PKCS1_V15_SHA512: { padding: PaddingMethod.Pkcs1v15, hash: HashingAlgorithm.Sha512 },
  RSA_PSS_SHA256: { padding: PaddingMethod.Pss, hash: HashingAlgorithm.Sha256 },
  RSA_PSS_SHA384: { padding: PaddingMethod.Pss, hash: HashingAlgorithm.Sha384 },
  RSA_PSS_SHA512: { padding: PaddingMethod.Pss, hash: HashingAlgorithm.Sha512 },
};

const RSA_LENGTHS = [2048, 3072, 4096] as const;
const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
const ATTRIBUTES_READ = [
  AttributeName.ObjectType,
  AttributeName.State,
  AttributeName.CryptographicAlgorithm,
  AttributeName.CryptographicLength,
  AttributeName.Name,
  AttributeName.CryptographicUsageMask,
  AttributeName.Sensitive,
];

/** States in which each state-dependent operation is allowed (KMIP 1.4, section 3.22 and the operations). */
const ALLOWED_STATES = {
  use: ['active'],
  activate: ['pre-active'],
  revoke: ['active'],
  destroy: ['pre-active', 'deactivated', 'compromised'],
} satisfies Record<string, KmipStateName[]>;

const nameAttr = (name: string) =>
  attribute(AttributeName.Name, {
    type: 'Structure',
    value: [textString(Tag.NameValue, name), enumeration(Tag.NameType, NameType.UninterpretedTextString)],
  });
const enumAttr = (name: string, value: number) => attribute(name, { type: 'Enumeration', value });
const intAttr = (name: string, value: number) => attribute(name, { type: 'Integer', value });
const boolAttr = (name: string, value: boolean) => attribute(name, { type: 'Boolean', value });

function checkName(name: string | undefined): void {
  if (name !== undefined && (name.length === 0 || name.length > 255)) throw new RangeError('a KMIP object name is 1-255 characters');
}

function checkId(id: string): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > 255) throw new RangeError('a KMIP unique identifier is 1-255 characters');
}

export class KmipClient {
  readonly #transport: KmipTransport;
  readonly #version: ProtocolVersion;
  readonly #maxResponseBytes: number;

  constructor(opts: KmipClientOptions) {
    this.#transport = new KmipTransport(opts);
    this.#version = opts.protocolVersion ?? { major: 1, minor: 4 };
    this.#maxResponseBytes = opts.maxResponseBytes ?? 1024 * 1024;
  }

  close(): void {
    this.#transport.close();
  }

  /** One request, one response payload. Encoding, transport and decoding failures all surface as KmipError. */
  async #call(operation: OperationCode, name: string, payload: (TtlvItem | undefined)[]): Promise<TtlvStructure> {
    let request: Buffer;
    try {
      request = encode(requestMessage(this.#version, operation, payload, this.#maxResponseBytes));
    } catch (e) {
      if (e instanceof TtlvEncodeError) throw new KmipInvalidRequestError('kmip.request_unencodable', `KMIP ${name} request cannot be encoded (${e.reason})`, { cause: e });
      throw e;
    }
    let raw: Buffer | undefined;
    try {
      raw = await this.#transport.send(request);
      let item: TtlvItem;
      try {
        item = decode(raw, { maxBytes: this.#maxResponseBytes });
      } catch (e) {
        if (e instanceof TtlvDecodeError) throw new KmipProtocolError(`KMIP ${name} response is not valid TTLV (${e.reason})`, e);
        throw e;
      }
      return parseResponse(item, operation, name).payload;
    } finally {
      // Requests can carry plaintext or a key being registered, responses plaintext: do not leave them in freed memory.
      request.fill(0);
      raw?.fill(0);
    }
  }

  #id(payload: TtlvStructure): string {
    return required(payload, Tag.UniqueIdentifier, 'TextString');
  }

  /**
   * KMIP 1.x has no result reason for "wrong lifecycle state" (2.0 added one), and PyKMIP answers Permission Denied
   * or Illegal Operation instead. When an operation that depends on the state is refused like that, read the state:
   * if it is one the operation does not allow, the refusal was about the state.
   */
  async #withStateCheck<T>(id: string, allowed: KmipStateName[], run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      const ambiguous = (e instanceof KmipPermissionDeniedError && e.code === 'kmip.permission_denied') || e instanceof KmipIllegalOperationError;
      if (!ambiguous) throw e;
      let state: KmipStateName | undefined;
      try {
        state = (await this.getAttributes(id)).state;
      } catch {
        throw e;
      }
      if (state !== undefined && !allowed.includes(state)) {
        const err = e as KmipError;
        throw new KmipWrongStateError(`KMIP object ${id} is ${state}; the operation needs ${allowed.join(' or ')}`, state, {
          resultReason: err.resultReason,
          serverMessage: err.serverMessage,
        });
      }
      throw e;
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Lifecycle

  /** Creates an AES key (256 bits unless told) inside the server; returns its unique identifier. Starts Pre-Active. */
  async create(opts: { name?: string; length?: 128 | 192 | 256; sensitive?: boolean } = {}): Promise<string> {
    checkName(opts.name);
    const payload = await this.#call(Operation.Create, 'Create', [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [
        enumAttr(AttributeName.CryptographicAlgorithm, CryptographicAlgorithm.Aes),
        intAttr(AttributeName.CryptographicLength, opts.length ?? 256),
        intAttr(AttributeName.CryptographicUsageMask, UsageMask.Encrypt | UsageMask.Decrypt),
        opts.name === undefined ? undefined : nameAttr(opts.name),
        boolAttr(AttributeName.Sensitive, opts.sensitive ?? true),
      ]),
    ]);
    return this.#id(payload);
  }

  /** Creates an RSA signing key pair inside the server. Both keys start Pre-Active. */
  async createKeyPair(opts: { length: 2048 | 3072 | 4096; name?: string; publicKeyName?: string; sensitive?: boolean }): Promise<{ privateKeyId: string; publicKeyId: string }> {
    if (!RSA_LENGTHS.includes(opts.length)) throw new RangeError('RSA key length must be 2048, 3072 or 4096');
    checkName(opts.name);
    checkName(opts.publicKeyName);
    const payload = await this.#call(Operation.CreateKeyPair, 'CreateKeyPair', [
      structure(Tag.CommonTemplateAttribute, [
        enumAttr(AttributeName.CryptographicAlgorithm, CryptographicAlgorithm.Rsa),
        intAttr(AttributeName.CryptographicLength, opts.length),
      ]),
      structure(Tag.PrivateKeyTemplateAttribute, [
        intAttr(AttributeName.CryptographicUsageMask, UsageMask.Sign),
        opts.name === undefined ? undefined : nameAttr(opts.name),
        boolAttr(AttributeName.Sensitive, opts.sensitive ?? true),
      ]),
      structure(Tag.PublicKeyTemplateAttribute, [
        intAttr(AttributeName.CryptographicUsageMask, UsageMask.Verify),
        opts.publicKeyName === undefined ? undefined : nameAttr(opts.publicKeyName),
      ]),
    ]);
    return {
      privateKeyId: required(payload, Tag.PrivateKeyUniqueIdentifier, 'TextString'),
      publicKeyId: required(payload, Tag.PublicKeyUniqueIdentifier, 'TextString'),
    };
  }

  /**
   * Registers a key created elsewhere (hold-your-own-key: the customer's key in the customer's KMIP server).
   * RSA/EC private keys go as PKCS#8, public keys as SubjectPublicKeyInfo, AES keys raw. Starts Pre-Active.
   */
  async register(key: KeyObject, opts: { name?: string; usageMask?: number; sensitive?: boolean } = {}): Promise<string> {
    checkName(opts.name);
    let objectType: number;
    let objectTag: number;
    let format: number;
    let algorithm: number;
    let length: number;
    let material: Buffer;
    let usage: number;
    if (key.type === 'secret') {
      const bytes = key.symmetricKeySize ?? 0;
      if (![16, 24, 32].includes(bytes)) throw new RangeError('only AES keys (128, 192 or 256 bits) can be registered as symmetric keys');
      [objectType, objectTag, format, algorithm, length] = [ObjectType.SymmetricKey, Tag.SymmetricKey, KeyFormatType.Raw, CryptographicAlgorithm.Aes, bytes * 8];
      material = key.export();
      usage = UsageMask.Encrypt | UsageMask.Decrypt;
    } else {
      const kind = key.asymmetricKeyType;
      const details = key.asymmetricKeyDetails ?? {};
      if (kind === 'rsa') {
        [algorithm, length] = [CryptographicAlgorithm.Rsa, details.modulusLength ?? 0];
      } else if (kind === 'ec' && (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1')) {
        [algorithm, length] = [CryptographicAlgorithm.Ecdsa, details.namedCurve === 'prime256v1' ? 256 : 384];
      } else {
        throw new RangeError('only RSA and EC P-256/P-384 keys can be registered as asymmetric keys');
      }
      if (key.type === 'private') {
        [objectType, objectTag, format] = [ObjectType.PrivateKey, Tag.PrivateKey, KeyFormatType.Pkcs8];
        material = key.export({ format: 'der', type: 'pkcs8' });
        usage = UsageMask.Sign;
      } else {
        [objectType, objectTag, format] = [ObjectType.PublicKey, Tag.PublicKey, KeyFormatType.X509];
        material = key.export({ format: 'der', type: 'spki' });
        usage = UsageMask.Verify;
      }
    }
    try {
      const payload = await this.#call(Operation.Register, 'Register', [
        enumeration(Tag.ObjectType, objectType),
        structure(Tag.TemplateAttribute, [
          intAttr(AttributeName.CryptographicUsageMask, opts.usageMask ?? usage),
          opts.name === undefined ? undefined : nameAttr(opts.name),
          key.type === 'public' ? undefined : boolAttr(AttributeName.Sensitive, opts.sensitive ?? true),
        ]),
        structure(objectTag, [
          structure(Tag.KeyBlock, [
            enumeration(Tag.KeyFormatType, format),
            structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, material)]),
            enumeration(Tag.CryptographicAlgorithm, algorithm),
            integer(Tag.CryptographicLength, length),
          ]),
        ]),
      ]);
      return this.#id(payload);
    } finally {
      material.fill(0);
    }
  }

  async activate(id: string): Promise<void> {
    checkId(id);
    await this.#withStateCheck(id, ALLOWED_STATES.activate, () => this.#call(Operation.Activate, 'Activate', [textString(Tag.UniqueIdentifier, id)]));
  }

  /**
   * Revokes a key: 'key-compromise' moves it to Compromised from any state; every other reason needs an Active key
   * and moves it to Deactivated.
   */
  async revoke(id: string, reason: KmipRevocationReason = 'cessation-of-operation', message?: string): Promise<void> {
    checkId(id);
    const compromise = reason === 'key-compromise';
    const run = () =>
      this.#call(Operation.Revoke, 'Revoke', [
        textString(Tag.UniqueIdentifier, id),
        structure(Tag.RevocationReason, [
          enumeration(Tag.RevocationReasonCode, REVOCATION_CODES[reason]),
          message === undefined ? undefined : textString(Tag.RevocationMessage, message),
        ]),
        compromise ? dateTime(Tag.CompromiseOccurrenceDate, BigInt(Math.floor(Date.now() / 1000))) : undefined,
      ]);
    await (compromise ? run() : this.#withStateCheck(id, ALLOWED_STATES.revoke, run));
  }

  /** Destroys a key. KMIP refuses to destroy an Active key: revoke it first. */
  async destroy(id: string): Promise<void> {
    checkId(id);
    await this.#withStateCheck(id, ALLOWED_STATES.destroy, () => this.#call(Operation.Destroy, 'Destroy', [textString(Tag.UniqueIdentifier, id)]));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reading

  async getAttributes(id: string): Promise<KmipObjectAttributes> {
    checkId(id);
    const payload = await this.#call(Operation.GetAttributes, 'GetAttributes', [
      textString(Tag.UniqueIdentifier, id),
      ...ATTRIBUTES_READ.map((n) => textString(Tag.AttributeName, n)),
    ]);
    const attrs = readAttributes(payload);
    const one = <T extends TtlvItem['type']>(name: string, type: T) => {
      const values = attrs.get(name);
      if (!values || values.length === 0) return undefined;
      const v = values[0] as TtlvItem;
      if (v.type !== type || values.length > 1) throw new KmipProtocolError(`attribute ${JSON.stringify(name)} is not a single ${type}`);
      return v.value as Extract<TtlvItem, { type: T }>['value'];
    };
    const names = (attrs.get(AttributeName.Name) ?? []).map((v) => {
      if (v.type !== 'Structure') throw new KmipProtocolError('attribute "Name" is not a structure');
      return required(v, Tag.NameValue, 'TextString');
    });
    const objectType = one(AttributeName.ObjectType, 'Enumeration');
    const state = one(AttributeName.State, 'Enumeration');
    const algorithm = one(AttributeName.CryptographicAlgorithm, 'Enumeration');
    return {
      id: this.#id(payload),
      objectType: objectType === undefined ? undefined : OBJECT_TYPE_NAMES[objectType],
      state: state === undefined ? undefined : STATE_NAMES[state],
      algorithm: algorithm === undefined ? undefined : (ALGORITHM_NAMES[algorithm] ?? `0x${algorithm.toString(16)}`),
      length: one(AttributeName.CryptographicLength, 'Integer'),
      names,
      usageMask: one(AttributeName.CryptographicUsageMask, 'Integer'),
      sensitive: one(AttributeName.Sensitive, 'Boolean'),
    };
  }

  /**
   * Gets a public key. The object type is checked with GetAttributes first, so a Get is never sent for a private or
   * symmetric key and no secret material is ever requested.
   */
  async getPublicKey(id: string): Promise<KeyObject> {
    const { objectType } = await this.getAttributes(id);
    if (objectType !== 'public-key') {
      throw new KmipInvalidRequestError('kmip.not_public_key', `KMIP object ${id} is ${objectType ?? 'of unknown type'}; only public keys are fetched`);
    }
    const payload = await this.#call(Operation.Get, 'Get', [textString(Tag.UniqueIdentifier, id)]);
    if (required(payload, Tag.ObjectType, 'Enumeration') !== ObjectType.PublicKey) throw new KmipProtocolError('Get returned an object that is not a public key');
    const block = requiredStructure(requiredStructure(payload, Tag.PublicKey), Tag.KeyBlock);
    const format = required(block, Tag.KeyFormatType, 'Enumeration');
    const material = required(requiredStructure(block, Tag.KeyValue), Tag.KeyMaterial, 'ByteString');
    const der = Buffer.from(material);
    try {
      if (format === KeyFormatType.Pkcs1) return createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
      if (format === KeyFormatType.X509) return createPublicKey({ key: der, format: 'der', type: 'spki' });
    } catch (e) {
      throw new KmipProtocolError('Get returned public key bytes that do not parse', e);
    }
    throw new KmipNotSupportedError('kmip.key_format_unsupported', `public key format 0x${format.toString(16)} is not supported by the client`);
  }

  /** Unique identifiers of the objects with this name, newest first as PyKMIP returns them (order is server-defined). */
  async locate(opts: { name: string; maximumItems?: number }): Promise<string[]> {
    checkName(opts.name);
    const payload = await this.#call(Operation.Locate, 'Locate', [
      opts.maximumItems === undefined ? undefined : integer(Tag.MaximumItems, opts.maximumItems),
      nameAttr(opts.name),
    ]);
    return all(payload, Tag.UniqueIdentifier, 'TextString');
  }

  // -------------------------------------------------------------------------------------------------------------
  // Cryptography inside the server

  /** Signs `data` (the message: the server hashes it) with a private key. */
  async sign(id: string, data: Uint8Array, algorithm: KmipSignatureAlgorithm): Promise<Buffer> {
    checkId(id);
    const payload = await this.#withStateCheck(id, ALLOWED_STATES.use, () =>
      this.#call(Operation.Sign, 'Sign', [textString(Tag.UniqueIdentifier, id), this.#signatureParams(algorithm), byteString(Tag.Data, data)]),
    );
    return Buffer.from(required(payload, Tag.SignatureData, 'ByteString'));
  }

  /** Verifies a signature with a public key inside the server. */
  async verify(id: string, data: Uint8Array, signature: Uint8Array, algorithm: KmipSignatureAlgorithm): Promise<boolean> {
    checkId(id);
    const payload = await this.#withStateCheck(id, ALLOWED_STATES.use, () =>
      this.#call(Operation.SignatureVerify, 'SignatureVerify', [
        textString(Tag.UniqueIdentifier, id),
        this.#signatureParams(algorithm),
        byteString(Tag.Data, data),
        byteString(Tag.SignatureData, signature),
      ]),
    );
    const validity = required(payload, Tag.ValidityIndicator, 'Enumeration');
    if (validity === ValidityIndicator.Valid) return true;
    if (validity === ValidityIndicator.Invalid) return false;
    throw new KmipServerError('kmip.validity_unknown', `KMIP SignatureVerify answered validity ${validity}`);
  }

  #signatureParams(algorithm: KmipSignatureAlgorithm): TtlvItem {
    const p = SIGNATURE_PARAMS[algorithm];
    if (!p) throw new RangeError(`unknown signature algorithm ${String(algorithm)}`);
    // Cryptographic Algorithm + Hashing Algorithm rather than Digital Signature Algorithm: PyKMIP maps no Digital
    // Signature Algorithm to PSS. Field order follows the specification, which PyKMIP's parser requires.
    return structure(Tag.CryptographicParameters, [
      enumeration(Tag.PaddingMethod, p.padding),
      enumeration(Tag.HashingAlgorithm, p.hash),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.Rsa),
    ]);
  }

  #gcmParams(): TtlvItem {
    return structure(Tag.CryptographicParameters, [
      enumeration(Tag.BlockCipherMode, BlockCipherMode.Gcm),
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.Aes),
      integer(Tag.TagLength, GCM_TAG_BYTES),
    ]);
  }

  /**
   * AES-GCM encryption inside the server with a 16-byte tag. The 96-bit IV is drawn here (node:crypto) unless given:
   * PyKMIP would otherwise draw a 128-bit one, which other GCM implementations may not accept.
   */
  async encrypt(id: string, plaintext: Uint8Array, opts: { aad?: Uint8Array; iv?: Uint8Array } = {}): Promise<KmipCiphertext> {
    checkId(id);
    const iv = Buffer.from(opts.iv ?? randomBytes(GCM_IV_BYTES));
    if (iv.length < 12) throw new RangeError('a GCM IV must be at least 12 bytes');
    const payload = await this.#withStateCheck(id, ALLOWED_STATES.use, () =>
      this.#call(Operation.Encrypt, 'Encrypt', [
        textString(Tag.UniqueIdentifier, id),
        this.#gcmParams(),
        byteString(Tag.Data, plaintext),
        byteString(Tag.IvCounterNonce, iv),
        opts.aad === undefined ? undefined : byteString(Tag.AuthenticatedEncryptionAdditionalData, opts.aad),
      ]),
    );
    const ciphertext = Buffer.from(required(payload, Tag.Data, 'ByteString'));
    const tag = optional(payload, Tag.AuthenticatedEncryptionTag, 'ByteString');
    const returnedIv = optional(payload, Tag.IvCounterNonce, 'ByteString');
    if (tag === undefined || tag.length !== GCM_TAG_BYTES) throw new KmipProtocolError('Encrypt response has no 16-byte authentication tag');
    if (ciphertext.length !== plaintext.length) throw new KmipProtocolError('Encrypt response ciphertext length differs from the plaintext length');
    if (returnedIv !== undefined && !iv.equals(returnedIv)) throw new KmipProtocolError('Encrypt response IV differs from the IV sent');
    return { ciphertext, iv, tag: Buffer.from(tag) };
  }

  /**
   * AES-GCM decryption inside the server. A wrong tag, IV or AAD fails; PyKMIP reports it as General Failure
   * (KmipServerError), not as a cryptographic failure.
   */
  async decrypt(id: string, input: KmipCiphertext & { aad?: Uint8Array }): Promise<Buffer> {
    checkId(id);
    if (input.tag.length !== GCM_TAG_BYTES) throw new RangeError('a GCM tag must be 16 bytes');
    if (input.iv.length < 12) throw new RangeError('a GCM IV must be at least 12 bytes');
    const payload = await this.#withStateCheck(id, ALLOWED_STATES.use, () =>
      this.#call(Operation.Decrypt, 'Decrypt', [
        textString(Tag.UniqueIdentifier, id),
        this.#gcmParams(),
        byteString(Tag.Data, input.ciphertext),
        byteString(Tag.IvCounterNonce, input.iv),
        input.aad === undefined ? undefined : byteString(Tag.AuthenticatedEncryptionAdditionalData, input.aad),
        byteString(Tag.AuthenticatedEncryptionTag, input.tag),
      ]),
    );
    return Buffer.from(required(payload, Tag.Data, 'ByteString'));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Server

  /** Protocol versions the server speaks, of those asked (all it knows when none are asked). */
  async discoverVersions(versions: ProtocolVersion[] = []): Promise<ProtocolVersion[]> {
    const payload = await this.#call(Operation.DiscoverVersions, 'DiscoverVersions', versions.map(protocolVersionItem));
    return all(payload, Tag.ProtocolVersion, 'Structure').map((value) => {
      const s: TtlvStructure = { tag: Tag.ProtocolVersion, type: 'Structure', value };
      return { major: required(s, Tag.ProtocolVersionMajor, 'Integer'), minor: required(s, Tag.ProtocolVersionMinor, 'Integer') };
    });
  }

  /** Operations (KMIP operation codes) and vendor identification. */
  async query(): Promise<{ operations: number[]; objectTypes: number[]; vendor: string | undefined }> {
    const payload = await this.#call(Operation.Query, 'Query', [
      enumeration(Tag.QueryFunction, QueryFunction.QueryOperations),
      enumeration(Tag.QueryFunction, QueryFunction.QueryObjects),
      enumeration(Tag.QueryFunction, QueryFunction.QueryServerInformation),
    ]);
    return {
      operations: all(payload, Tag.Operation, 'Enumeration'),
      objectTypes: all(payload, Tag.ObjectType, 'Enumeration'),
      vendor: optional(payload, Tag.VendorIdentification, 'TextString'),
    };
  }

  /** Health probe: one round trip that proves TLS, authentication and that the server speaks our version. */
  async probe(): Promise<{ version: ProtocolVersion }> {
    const versions = await this.discoverVersions([this.#version]);
    if (!versions.some((v) => v.major === this.#version.major && v.minor === this.#version.minor)) {
      throw new KmipNotSupportedError('kmip.version_unsupported', `KMIP server does not speak protocol ${this.#version.major}.${this.#version.minor}`);
    }
    return { version: this.#version };
  }
}

