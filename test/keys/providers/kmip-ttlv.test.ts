// TTLV codec and KMIP message framing against published vectors and malformed input.
// Vectors: the encoding examples of the KMIP 1.x specification (section 9.1.2, tag 0x420020 there), re-checked
// against PyKMIP 0.10's own encoder, and the KMIP 1.1 test-case messages (kmip-testcases-v1.1 sections 3.1.1 and
// 3.1.3) that PyKMIP's unit tests carry (kmip/tests/unit/core/messages/test_messages.py).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  KmipAuthenticationError,
  KmipCryptographicFailureError,
  KmipError,
  KmipIllegalOperationError,
  KmipInvalidRequestError,
  KmipItemNotFoundError,
  KmipNotSupportedError,
  KmipPermissionDeniedError,
  KmipProtocolError,
  KmipServerError,
  KmipWrongStateError,
  errorForResult,
} from '../../../src/keys/providers/kmip/errors.ts';
import { attribute, parseResponse, readAttributes, requestMessage } from '../../../src/keys/providers/kmip/messages.ts';
import { CryptographicAlgorithm, NameType, ObjectType, Operation, ResultReason, Tag } from '../../../src/keys/providers/kmip/tags.ts';
import {
  DEFAULT_LIMITS,
  type TtlvItem,
  TtlvDecodeError,
  TtlvEncodeError,
  bigInteger,
  boolean,
  byteString,
  dateTime,
  decode,
  encode,
  enumeration,
  integer,
  interval,
  longInteger,
  readHeader,
  structure,
  textString,
} from '../../../src/keys/providers/kmip/ttlv.ts';

const hex = (s: string) => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
const T = 0x420020;

function assertDecodeError(buf: Uint8Array, reason: TtlvDecodeError['reason'], limits = {}) {
  assert.throws(
    () => decode(buf, limits),
    (e: unknown) => e instanceof TtlvDecodeError && e.reason === reason && e.code === `ttlv.${reason}`,
    `expected ttlv.${reason}`,
  );
}

describe('TTLV primitives: KMIP specification examples', () => {
  const cases: [string, TtlvItem, string][] = [
    ['Integer 8', integer(T, 8), '420020 | 02 | 00000004 | 00000008 00000000'],
    ['Long Integer 123456789000000000', longInteger(T, 123456789000000000n), '420020 | 03 | 00000008 | 01B69B4BA5749200'],
    ['Big Integer 1234567890000000000000000000', bigInteger(T, 1234567890000000000000000000n), '420020 | 04 | 00000010 | 0000000003FD35EB 6BC2DF4618080000'],
    ['Enumeration 255', enumeration(T, 255), '420020 | 05 | 00000004 | 000000FF 00000000'],
    ['Boolean true', boolean(T, true), '420020 | 06 | 00000008 | 0000000000000001'],
    ['Text String "Hello World"', textString(T, 'Hello World'), '420020 | 07 | 0000000B | 48656C6C6F20576F726C64 0000000000'],
    ['Byte String 01 02 03', byteString(T, Uint8Array.of(1, 2, 3)), '420020 | 08 | 00000003 | 010203 0000000000'],
    ['Date-Time 2008-03-14 11:56:40 UTC', dateTime(T, 0x47da67f8n), '420020 | 09 | 00000008 | 0000000047DA67F8'],
    ['Interval 10 days', interval(T, 864000), '420020 | 0A | 00000004 | 000D2F00 00000000'],
    [
      'Structure of Enumeration 254 and Integer 255',
      structure(T, [enumeration(0x420004, 254), integer(0x420005, 255)]),
      '420020 | 01 | 00000020 | 420004 | 05 | 00000004 | 000000FE 00000000 | 420005 | 02 | 00000004 | 000000FF 00000000',
    ],
  ];
  for (const [name, item, wire] of cases) {
    test(`${name} encodes and decodes`, () => {
      assert.equal(encode(item).toString('hex'), hex(wire).toString('hex'));
      assert.deepEqual(decode(hex(wire)), item);
    });
  }

  test('Big Integer: minimal sign-extended length, both signs (PyKMIP vectors and edges)', () => {
    const vectors: [bigint, string][] = [
      [0n, '0000000000000000'],
      [-1000n, 'FFFFFFFFFFFFFC18'],
      [-1n, 'FFFFFFFFFFFFFFFF'],
      [(1n << 63n) - 1n, '7FFFFFFFFFFFFFFF'],
      [1n << 63n, '0000000000000000 8000000000000000'],
      [-(1n << 63n), '8000000000000000'],
      [-(1n << 63n) - 1n, 'FFFFFFFFFFFFFFFF 7FFFFFFFFFFFFFFF'],
    ];
    for (const [value, bytes] of vectors) {
      const wire = Buffer.concat([hex('420020 04'), Buffer.from([0, 0, 0, hex(bytes).length]), hex(bytes)]);
      assert.equal(encode(bigInteger(T, value)).toString('hex'), wire.toString('hex'), `encode ${value}`);
      assert.deepEqual(decode(wire), bigInteger(T, value), `decode ${value}`);
    }
  });

  test('Long Integer, Date-Time and Integer extremes round-trip', () => {
    for (const item of [
      longInteger(T, -(1n << 63n)),
      longInteger(T, (1n << 63n) - 1n),
      dateTime(T, -1n),
      integer(T, -0x80000000),
      integer(T, 0x7fffffff),
      enumeration(T, 0xffffffff),
      interval(T, 0),
      boolean(T, false),
      textString(T, ''),
      textString(T, '\uFEFFk€y 🔑'),
      byteString(T, new Uint8Array(0)),
      byteString(T, new Uint8Array(8).fill(0xab)),
      structure(T, []),
    ]) {
      const wire = encode(item);
      assert.equal(wire.length % 8, 0);
      assert.deepEqual(decode(wire), item);
      assert.deepEqual(encode(decode(wire)), wire);
    }
  });

  test('an extension tag (0x54xxxx) is accepted', () => {
    assert.deepEqual(decode(encode(integer(0x540001, 1))), integer(0x540001, 1));
  });
});

describe('KMIP 1.1 test-case messages', () => {
  // 3.1.1 Create: AES-128, usage mask Encrypt|Decrypt.
  const createRequest = hex(`
    42007801000001204200770100000038420069010000002042006a0200000004000000010000000042006b0200000004
    000000010000000042000d0200000004000000010000000042000f01000000d842005c05000000040000000100000000
    42007901000000c04200570500000004000000020000000042009101000000a8420008010000003042000a0700000017
    43727970746f6772617068696320416c676f726974686d0042000b050000000400000003000000004200080100000030
    42000a070000001443727970746f67726170686963204c656e6774680000000042000b02000000040000008000000000
    420008010000003042000a070000001843727970746f67726170686963205573616765204d61736b42000b0200000004
    0000000c00000000`);
  const createResponse = hex(`
    42007b01000000c042007a0100000048420069010000002042006a0200000004000000010000000042006b0200000004
    00000001000000004200920900000008000000004f9a54e542000d0200000004000000010000000042000f0100000068
    42005c0500000004000000010000000042007f0500000004000000000000000042007c01000000404200570500000004
    0000000200000000420094070000002466623462356239632d363138382d346336332d383134322d6665396333323831
    3239666300000000`);
  // 3.1.1 Get response: a 3DES key in Raw format.
  const getResponse = hex(`
    42007b010000012842007a0100000048420069010000002042006a0200000004000000010000000042006b0200000004
    00000001000000004200920900000008000000004f9a54e742000d0200000004000000010000000042000f01000000d0
    42005c05000000040000000a0000000042007f0500000004000000000000000042007c01000000a84200570500000004
    0000000200000000420094070000002434396131636138382d366265612d346662322d623435302d3765353838303263
    333033380000000042008f01000000604200400100000058420042050000000400000001000000004200450100000020
    42004308000000187367578051012a6d134a855e25c8cd5e4ca131455729d3c842002805000000040000000200000000
    42002a0200000004000000a800000000`);
  // 3.1.3 Locate by Object Type and Name "Key1".
  const locateRequest = hex(`
    42007801000000d04200770100000038420069010000002042006a0200000004000000010000000042006b0200000004
    000000010000000042000d0200000004000000010000000042000f010000008842005c05000000040000000800000000
    4200790100000070420008010000002842000a070000000b4f626a6563742054797065000000000042000b0500000004
    0000000200000000420008010000003842000a07000000044e616d650000000042000b01000000204200550700000004
    4b6579310000000042005405000000040000000100000000`);
  // A failure response (Invalid Message) from PyKMIP's tests.
  const invalidMessageResponse = hex(`
    42007b01000000b042007a0100000048420069010000002042006a0200000004000000010000000042006b0200000004
    000000010000000042009209000000080000000056fa43bd42000d0200000004000000010000000042000f0100000058
    42007f0500000004000000010000000042007e0500000004000000040000000042007d070000002a44656661756c7420
    726573706f6e73652e204e6f206f7065726174696f6e7320737570706f727465642e000000000000`);

  test('the client builds the 3.1.1 Create request byte for byte', () => {
    const built = requestMessage({ major: 1, minor: 1 }, Operation.Create, [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [
        attribute('Cryptographic Algorithm', { type: 'Enumeration', value: CryptographicAlgorithm.Aes }),
        attribute('Cryptographic Length', { type: 'Integer', value: 128 }),
        attribute('Cryptographic Usage Mask', { type: 'Integer', value: 12 }),
      ]),
    ]);
    assert.equal(encode(built).toString('hex'), createRequest.toString('hex'));
    assert.deepEqual(decode(createRequest), built);
  });

  test('the client builds the 3.1.3 Locate request byte for byte', () => {
    const built = requestMessage({ major: 1, minor: 1 }, Operation.Locate, [
      attribute('Object Type', { type: 'Enumeration', value: ObjectType.SymmetricKey }),
      attribute('Name', { type: 'Structure', value: [textString(Tag.NameValue, 'Key1'), enumeration(Tag.NameType, NameType.UninterpretedTextString)] }),
    ]);
    assert.equal(encode(built).toString('hex'), locateRequest.toString('hex'));
  });

  test('the 3.1.1 Create and Get responses parse; decode then encode is the identity', () => {
    const created = parseResponse(decode(createResponse), Operation.Create, 'Create');
    assert.deepEqual(created.version, { major: 1, minor: 1 });
    assert.deepEqual(created.payload.value, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey), textString(Tag.UniqueIdentifier, 'fb4b5b9c-6188-4c63-8142-fe9c328129fc')]);
    const got = parseResponse(decode(getResponse), Operation.Get, 'Get');
    const key = got.payload.value.find((i) => i.tag === Tag.SymmetricKey);
    assert.ok(key && key.type === 'Structure');
    for (const wire of [createRequest, createResponse, getResponse, locateRequest, invalidMessageResponse]) {
      assert.equal(encode(decode(wire)).toString('hex'), wire.toString('hex'));
    }
  });

  test('a failed batch item becomes the typed error for its result reason', () => {
    assert.throws(
      () => parseResponse(decode(invalidMessageResponse), Operation.Create, 'Create'),
      (e: unknown) =>
        e instanceof KmipInvalidRequestError &&
        e.code === 'kmip.invalid_request' &&
        e.resultReason === ResultReason.InvalidMessage &&
        e.serverMessage === 'Default response. No operations supported.',
    );
  });

  test('a response for another operation, or with two batch items, is a protocol error', () => {
    assert.throws(() => parseResponse(decode(createResponse), Operation.Get, 'Get'), KmipProtocolError);
    const msg = decode(createResponse);
    assert.ok(msg.type === 'Structure');
    const batch = msg.value.find((i) => i.tag === Tag.BatchItem) as TtlvItem;
    const twice = structure(Tag.ResponseMessage, [...msg.value, batch]);
    assert.throws(() => parseResponse(twice, Operation.Create, 'Create'), KmipProtocolError);
    assert.throws(() => parseResponse(decode(createRequest), Operation.Create, 'Create'), KmipProtocolError);
    // A field of the wrong type is refused, not coerced.
    const header = (msg.value[0] as Extract<TtlvItem, { type: 'Structure' }>).value.map((i) => (i.tag === Tag.BatchCount ? enumeration(Tag.BatchCount, 1) : i));
    assert.throws(() => parseResponse(structure(Tag.ResponseMessage, [structure(Tag.ResponseHeader, header), batch]), Operation.Create, 'Create'), KmipProtocolError);
  });

  test('readAttributes groups attribute values by name and refuses an attribute without exactly one value', () => {
    const s = structure(Tag.ResponsePayload, [
      attribute('Name', { type: 'Structure', value: [textString(Tag.NameValue, 'a'), enumeration(Tag.NameType, 1)] }),
      attribute('Name', { type: 'Structure', value: [textString(Tag.NameValue, 'b'), enumeration(Tag.NameType, 1)] }),
      attribute('State', { type: 'Enumeration', value: 2 }),
    ]);
    assert.ok(s.type === 'Structure');
    const attrs = readAttributes(s);
    assert.equal(attrs.get('Name')?.length, 2);
    assert.deepEqual(attrs.get('State'), [enumeration(Tag.AttributeValue, 2)]);
    const bad = structure(Tag.ResponsePayload, [structure(Tag.Attribute, [textString(Tag.AttributeName, 'State')])]);
    assert.ok(bad.type === 'Structure');
    assert.throws(() => readAttributes(bad), KmipProtocolError);
  });
});

describe('result reasons map to distinct error classes', () => {
  const table: [number | undefined, new (...a: never[]) => KmipError, string][] = [
    [ResultReason.ItemNotFound, KmipItemNotFoundError, 'kmip.item_not_found'],
    [ResultReason.PermissionDenied, KmipPermissionDeniedError, 'kmip.permission_denied'],
    [ResultReason.AuthenticationNotSuccessful, KmipAuthenticationError, 'kmip.authentication_failed'],
    [ResultReason.WrongKeyLifecycleState, KmipWrongStateError, 'kmip.wrong_state'],
    [ResultReason.InvalidField, KmipInvalidRequestError, 'kmip.invalid_request'],
    [ResultReason.MissingData, KmipInvalidRequestError, 'kmip.invalid_request'],
    [ResultReason.OperationNotSupported, KmipNotSupportedError, 'kmip.not_supported'],
    [ResultReason.KeyFormatTypeNotSupported, KmipNotSupportedError, 'kmip.not_supported'],
    [ResultReason.IllegalOperation, KmipIllegalOperationError, 'kmip.illegal_operation'],
    [ResultReason.CryptographicFailure, KmipCryptographicFailureError, 'kmip.cryptographic_failure'],
    [ResultReason.Sensitive, KmipPermissionDeniedError, 'kmip.not_extractable'],
    [ResultReason.GeneralFailure, KmipServerError, 'kmip.server_error'],
    [undefined, KmipServerError, 'kmip.server_error'],
  ];
  for (const [reason, cls, code] of table) {
    test(`reason ${reason ?? 'missing'} -> ${cls.name} (${code})`, () => {
      const e = errorForResult('Sign', reason, 'x'.repeat(500));
      assert.ok(e instanceof cls, e.constructor.name);
      assert.equal(e.code, code);
      assert.equal(e.resultReason, reason);
      assert.equal(e.serverMessage?.length, 200);
    });
  }
});

describe('TTLV decoding refuses malformed input with a typed reason', () => {
  test('truncated headers and values', () => {
    assertDecodeError(new Uint8Array(0), 'truncated');
    assertDecodeError(hex('42002002000000'), 'truncated');
    assertDecodeError(hex('420020 02 00000004 00000008'), 'truncated');
    // A huge announced length is compared before anything is read or allocated.
    assertDecodeError(hex('420020 08 FFFFFFFF 0102030405060708'), 'truncated');
    // A child that runs past the end of its structure.
    assertDecodeError(hex('420020 01 00000010 | 420004 08 00000010 0102030405060708'), 'truncated');
  });

  test('wrong lengths for fixed-size types (PyKMIP vectors among them)', () => {
    assertDecodeError(hex('420020 0A 00000005 000D2F00 00000000'), 'bad_length'); // Interval of length 5
    assertDecodeError(hex('420020 02 00000008 0000000000000008'), 'bad_length');
    assertDecodeError(hex('420020 03 00000004 00000001 00000000'), 'bad_length');
    assertDecodeError(hex('420020 06 00000004 00000001 00000000'), 'bad_length');
    assertDecodeError(hex('420020 09 00000000'), 'bad_length');
    assertDecodeError(hex('420020 04 00000000'), 'bad_length');
    assertDecodeError(hex('420020 04 00000004 00000001 00000000'), 'bad_length');
    assertDecodeError(hex('420020 01 00000004 00000000 00000000'), 'bad_length');
  });

  test('non-zero padding bytes (PyKMIP vectors among them)', () => {
    assertDecodeError(hex('420020 0A 00000004 000D2F00 000000FF'), 'bad_padding');
    assertDecodeError(hex('420020 07 0000000B 48656C6C6F20576F726C64 FFFFFFFFFF'), 'bad_padding');
    assertDecodeError(hex('420020 08 00000003 010203 0000000001'), 'bad_padding');
    assertDecodeError(hex('420020 05 00000004 000000FF 00000100'), 'bad_padding');
  });

  test('bad values', () => {
    assertDecodeError(hex('420020 06 00000008 0000000000000002'), 'bad_value'); // PyKMIP: Boolean 2
    assertDecodeError(hex('420020 06 00000008 0100000000000000'), 'bad_value');
    assertDecodeError(hex('420020 07 00000002 C328 000000000000'), 'bad_value'); // invalid UTF-8
    assertDecodeError(hex('420020 07 00000003 EDA080 0000000000'), 'bad_value'); // UTF-8 encoded surrogate
    assertDecodeError(hex('420020 04 00000010 0000000000000000 0000000000000001'), 'non_minimal');
    assertDecodeError(hex('420020 04 00000010 FFFFFFFFFFFFFFFF FFFFFFFFFFFFFFFF'), 'non_minimal');
  });

  test('reserved tags and unknown types', () => {
    assertDecodeError(hex('000000 02 00000004 00000008 00000000'), 'bad_tag');
    assertDecodeError(hex('430020 02 00000004 00000008 00000000'), 'bad_tag');
    assertDecodeError(hex('420020 00 00000004 00000008 00000000'), 'unknown_type');
    assertDecodeError(hex('420020 0B 00000008 0000000000000000'), 'unknown_type'); // KMIP 2.0 Date-Time Extended
    assertDecodeError(hex('420020 01 00000010 | 420021 FF 00000000 | 0000000000000000'), 'unknown_type');
  });

  test('trailing bytes after the item, even zero bytes', () => {
    assertDecodeError(hex('420020 02 00000004 00000008 00000000 | 00'), 'trailing_bytes');
    assertDecodeError(hex('420020 02 00000004 00000008 00000000 | 0000000000000000'), 'trailing_bytes');
    assertDecodeError(hex('420020 02 00000004 00000008 00000000 | 420020 02 00000004 00000008 00000000'), 'trailing_bytes');
  });

  test('depth, size and item-count bounds', () => {
    let deep: TtlvItem = integer(T, 1);
    for (let i = 0; i < 40; i++) deep = structure(T, [deep]);
    const wire = encode(deep, { maxDepth: 64 });
    assertDecodeError(wire, 'too_deep');
    assert.doesNotThrow(() => decode(wire, { maxDepth: 41 }));
    assertDecodeError(wire, 'too_large', { maxBytes: wire.length - 1 });
    assertDecodeError(new Uint8Array(DEFAULT_LIMITS.maxBytes + 8), 'too_large');
    const wide = encode(structure(T, Array.from({ length: 100 }, () => boolean(T, true))));
    assertDecodeError(wide, 'too_many_items', { maxItems: 100 });
    assert.doesNotThrow(() => decode(wide, { maxItems: 101 }));
  });

  test('readHeader frames without judging', () => {
    assert.deepEqual(readHeader(hex('42007B 01 000000C0')), { tag: 0x42007b, type: 1, length: 0xc0 });
    assert.throws(() => readHeader(hex('42007B01')), TtlvDecodeError);
  });

  test('fuzz: mutated and truncated messages either decode canonically or fail with TtlvDecodeError', () => {
    // Deterministic xorshift32, so a failure reproduces.
    let seed = 0x9e3779b9;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const corpus = [
      hex('42007b01000000c042007a0100000048420069010000002042006a0200000004000000010000000042006b0200000004'),
      encode(
        structure(Tag.ResponseMessage, [
          structure(Tag.ResponseHeader, [integer(Tag.BatchCount, 1), dateTime(Tag.TimeStamp, 1700000000n)]),
          structure(Tag.BatchItem, [
            enumeration(Tag.Operation, Operation.Sign),
            textString(Tag.UniqueIdentifier, 'key-1'),
            byteString(Tag.SignatureData, new Uint8Array(37).fill(7)),
            bigInteger(0x420021, -123456789012345678901234567890n),
            longInteger(0x420022, -5n),
            boolean(0x420023, true),
            interval(0x420024, 60),
          ]),
        ]),
      ),
    ];
    let decoded = 0;
    let refused = 0;
    for (let round = 0; round < 4000; round++) {
      const base = corpus[rand(corpus.length)] as Buffer;
      const buf = Buffer.from(base);
      const mutation = rand(4);
      let input: Buffer = buf;
      if (mutation === 0) buf[rand(buf.length)] = rand(256);
      else if (mutation === 1) {
        for (let i = 0; i < 4; i++) {
          const at = rand(buf.length);
          buf[at] = (buf[at] as number) ^ (1 << rand(8));
        }
      }
      else if (mutation === 2) input = buf.subarray(0, rand(buf.length));
      else buf.writeUInt32BE(rand(2) === 0 ? rand(512) : rand(0xffffffff), 8 * rand(buf.length >> 3) + 4);
      try {
        const item = decode(input);
        assert.equal(encode(item).toString('hex'), input.toString('hex'), 'a decoded message re-encodes to the same bytes');
        decoded++;
      } catch (e) {
        assert.ok(e instanceof TtlvDecodeError, `unexpected ${String(e)}`);
        refused++;
      }
    }
    assert.ok(decoded > 0 && refused > 0, `both outcomes exercised (${decoded} decoded, ${refused} refused)`);
  });
});

describe('TTLV encoding refuses values the wire cannot carry', () => {
  const cases: [string, TtlvItem, TtlvEncodeError['reason']][] = [
    ['Integer above int32', integer(T, 0x80000000), 'out_of_range'],
    ['Integer not an integer', integer(T, 1.5), 'out_of_range'],
    ['Enumeration negative', enumeration(T, -1), 'out_of_range'],
    ['Interval above uint32', interval(T, 2 ** 32), 'out_of_range'],
    ['Long Integer above int64', longInteger(T, 1n << 63n), 'out_of_range'],
    ['Date-Time below int64', dateTime(T, -(1n << 63n) - 1n), 'out_of_range'],
    ['Text String with a lone surrogate', textString(T, 'a\uD800b'), 'bad_value'],
    ['reserved tag', integer(0x430000, 1), 'bad_tag'],
    ['tag wider than 3 bytes', integer(0x1420000, 1), 'bad_tag'],
  ];
  for (const [name, item, reason] of cases) {
    test(name, () => {
      assert.throws(() => encode(item), (e: unknown) => e instanceof TtlvEncodeError && e.reason === reason);
    });
  }

  test('a cyclic structure stops at the depth bound instead of overflowing the stack', () => {
    const cyclic = { tag: T, type: 'Structure', value: [] as TtlvItem[] } as Extract<TtlvItem, { type: 'Structure' }>;
    cyclic.value.push(cyclic);
    assert.throws(() => encode(cyclic), (e: unknown) => e instanceof TtlvEncodeError && e.reason === 'too_deep');
  });

  test('a message over the size bound is refused', () => {
    assert.throws(() => encode(byteString(T, new Uint8Array(2000)), { maxBytes: 1024 }), (e: unknown) => e instanceof TtlvEncodeError && e.reason === 'too_large');
  });
});
