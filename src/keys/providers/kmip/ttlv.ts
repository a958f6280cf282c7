// KMIP TTLV codec (KMIP 1.x specification, section 9.1): every item is a 3-byte tag, a 1-byte type, a 4-byte
// big-endian length and a value padded with zero bytes to a multiple of 8. No npm library does this (see README.md),
// so it is written here, small and strict: decoding checks every length, every padding byte, the nesting depth, the
// total size and the item count, and refuses trailing bytes, so a hostile or broken server cannot make the client
// read past a value, allocate without bound or recurse without bound.

export const HEADER_BYTES = 8;

export const ItemType = {
  Structure: 0x01,
  Integer: 0x02,
  LongInteger: 0x03,
  BigInteger: 0x04,
  Enumeration: 0x05,
  Boolean: 0x06,
  TextString: 0x07,
  ByteString: 0x08,
  DateTime: 0x09,
  Interval: 0x0a,
} as const;
export type ItemTypeName = keyof typeof ItemType;

const TYPE_NAMES = new Map<number, ItemTypeName>(Object.entries(ItemType).map(([name, code]) => [code, name as ItemTypeName]));

export type TtlvItem =
  | { tag: number; type: 'Structure'; value: TtlvItem[] }
  /** Signed 32-bit. */
  | { tag: number; type: 'Integer'; value: number }
  /** Signed 64-bit. */
  | { tag: number; type: 'LongInteger'; value: bigint }
  /** Signed, any size (two's complement, minimal multiple of 8 bytes on the wire). */
  | { tag: number; type: 'BigInteger'; value: bigint }
  /** Unsigned 32-bit. */
  | { tag: number; type: 'Enumeration'; value: number }
  | { tag: number; type: 'Boolean'; value: boolean }
  | { tag: number; type: 'TextString'; value: string }
  | { tag: number; type: 'ByteString'; value: Uint8Array }
  /** Signed 64-bit POSIX time in seconds. */
  | { tag: number; type: 'DateTime'; value: bigint }
  /** Unsigned 32-bit number of seconds. */
  | { tag: number; type: 'Interval'; value: number };

export type TtlvStructure = Extract<TtlvItem, { type: 'Structure' }>;

export interface TtlvLimits {
  /** Largest encoded message accepted, header included (default 1 MiB, PyKMIP's own request/response limit). */
  maxBytes?: number;
  /** Deepest nesting of structures (default 32; KMIP messages the client uses nest at most 8 deep). */
  maxDepth?: number;
  /** Most items in one message (default 65536). */
  maxItems?: number;
}

export const DEFAULT_LIMITS: Required<TtlvLimits> = { maxBytes: 1024 * 1024, maxDepth: 32, maxItems: 65536 };

export type TtlvDecodeReason =
  | 'truncated'
  | 'bad_tag'
  | 'unknown_type'
  | 'bad_length'
  | 'bad_padding'
  | 'bad_value'
  | 'non_minimal'
  | 'too_deep'
  | 'too_large'
  | 'too_many_items'
  | 'trailing_bytes';

export class TtlvDecodeError extends Error {
  readonly reason: TtlvDecodeReason;
  readonly code: `ttlv.${TtlvDecodeReason}`;
  /** Byte offset of the item header where decoding stopped. */
  readonly offset: number;
  constructor(reason: TtlvDecodeReason, offset: number, detail: string) {
    super(`TTLV decode: ${detail} (at byte ${offset})`);
    this.name = 'TtlvDecodeError';
    this.reason = reason;
    this.code = `ttlv.${reason}`;
    this.offset = offset;
  }
}

export type TtlvEncodeReason = 'bad_tag' | 'bad_value' | 'out_of_range' | 'too_deep' | 'too_large';

export class TtlvEncodeError extends Error {
  readonly reason: TtlvEncodeReason;
  readonly code: `ttlv.encode_${TtlvEncodeReason}`;
  constructor(reason: TtlvEncodeReason, detail: string) {
    super(`TTLV encode: ${detail}`);
    this.name = 'TtlvEncodeError';
    this.reason = reason;
    this.code = `ttlv.encode_${reason}`;
  }
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Standard tags are 0x42xxxx, extension tags 0x54xxxx; every other first byte is reserved. */
export const isValidTag = (tag: number): boolean =>
  Number.isInteger(tag) && ((tag >= 0x420000 && tag <= 0x42ffff) || (tag >= 0x540000 && tag <= 0x54ffff));

// Arithmetic, not bitwise: lengths go up to 2^32-1, beyond what 32-bit bitwise operators can hold.
const pad8 = (n: number) => Math.ceil(n / 8) * 8;

// ---------------------------------------------------------------------------------------------------------------
// Encoding

const utf8 = new TextEncoder();

function bigIntBytes(value: bigint): Uint8Array {
  // Minimal two's complement length that is a multiple of 8 bytes (KMIP: "padded with a minimal number of leading
  // sign-extended bytes").
  let len = 8;
  while (value < -(1n << BigInt(len * 8 - 1)) || value >= 1n << BigInt(len * 8 - 1)) len += 8;
  let v = value < 0n ? (1n << BigInt(len * 8)) + value : value;
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Value bytes of a primitive (unpadded), or the children of a structure, validated. */
function valueBytes(item: TtlvItem): Uint8Array {
  switch (item.type) {
    case 'Integer': {
      if (!Number.isInteger(item.value) || item.value < INT32_MIN || item.value > INT32_MAX) {
        throw new TtlvEncodeError('out_of_range', `Integer ${item.value} is not a signed 32-bit integer`);
      }
      const b = Buffer.alloc(4);
      b.writeInt32BE(item.value);
      return b;
    }
    case 'Enumeration':
    case 'Interval': {
      if (!Number.isInteger(item.value) || item.value < 0 || item.value > UINT32_MAX) {
        throw new TtlvEncodeError('out_of_range', `${item.type} ${item.value} is not an unsigned 32-bit integer`);
      }
      const b = Buffer.alloc(4);
      b.writeUInt32BE(item.value);
      return b;
    }
    case 'LongInteger':
    case 'DateTime': {
      if (typeof item.value !== 'bigint' || item.value < INT64_MIN || item.value > INT64_MAX) {
        throw new TtlvEncodeError('out_of_range', `${item.type} is not a signed 64-bit bigint`);
      }
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(item.value);
      return b;
    }
    case 'BigInteger':
      if (typeof item.value !== 'bigint') throw new TtlvEncodeError('bad_value', 'BigInteger value must be a bigint');
      return bigIntBytes(item.value);
    case 'Boolean': {
      if (typeof item.value !== 'boolean') throw new TtlvEncodeError('bad_value', 'Boolean value must be a boolean');
      const b = Buffer.alloc(8);
      b[7] = item.value ? 1 : 0;
      return b;
    }
    case 'TextString':
      if (typeof item.value !== 'string' || !item.value.isWellFormed()) {
        throw new TtlvEncodeError('bad_value', 'TextString value must be a well-formed string');
      }
      return utf8.encode(item.value);
    case 'ByteString':
      if (!(item.value instanceof Uint8Array)) throw new TtlvEncodeError('bad_value', 'ByteString value must be bytes');
      return item.value;
    case 'Structure':
      throw new TtlvEncodeError('bad_value', 'a structure has no primitive value');
    default:
      throw new TtlvEncodeError('bad_value', `unknown item type ${String((item as { type: unknown }).type)}`);
  }
}

interface Sized {
  item: TtlvItem;
  /** Unpadded value length as written in the header. */
  length: number;
  bytes?: Uint8Array;
  children?: Sized[];
}

function measure(item: TtlvItem, depth: number, limits: Required<TtlvLimits>): Sized {
  if (!isValidTag(item.tag)) throw new TtlvEncodeError('bad_tag', `tag ${String(item.tag)} is not a 0x42xxxx or 0x54xxxx tag`);
  if (item.type === 'Structure') {
    if (depth >= limits.maxDepth) throw new TtlvEncodeError('too_deep', `structures nest deeper than ${limits.maxDepth}`);
    if (!Array.isArray(item.value)) throw new TtlvEncodeError('bad_value', 'Structure value must be an array');
    const children = item.value.map((c) => measure(c, depth + 1, limits));
    const length = children.reduce((n, c) => n + HEADER_BYTES + pad8(c.length), 0);
    if (length > limits.maxBytes) throw new TtlvEncodeError('too_large', `message exceeds ${limits.maxBytes} bytes`);
    return { item, length, children };
  }
  const bytes = valueBytes(item);
  if (bytes.length > limits.maxBytes) throw new TtlvEncodeError('too_large', `message exceeds ${limits.maxBytes} bytes`);
  return { item, length: bytes.length, bytes };
}

function write(out: Buffer, at: number, s: Sized): number {
  out.writeUIntBE(s.item.tag, at, 3);
  out[at + 3] = ItemType[s.item.type];
  out.writeUInt32BE(s.length, at + 4);
  let pos = at + HEADER_BYTES;
  if (s.children) {
    for (const c of s.children) pos = write(out, pos, c);
    return pos;
  }
  out.set(s.bytes as Uint8Array, pos);
  // Buffer.alloc zero-fills, so the padding is already zero.
  return pos + pad8(s.length);
}

/** Encodes one item (normally a whole Request Message) into a new buffer. */
export function encode(item: TtlvItem, limits: TtlvLimits = {}): Buffer {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const sized = measure(item, 0, lim);
  const total = HEADER_BYTES + pad8(sized.length);
  if (total > lim.maxBytes) throw new TtlvEncodeError('too_large', `message exceeds ${lim.maxBytes} bytes`);
  const out = Buffer.alloc(total);
  write(out, 0, sized);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

export interface TtlvHeader {
  tag: number;
  type: number;
  length: number;
}

/** Reads the 8-byte header at `offset` without judging it (used to frame messages on a stream). */
export function readHeader(buf: Uint8Array, offset = 0): TtlvHeader {
  if (buf.length - offset < HEADER_BYTES) throw new TtlvDecodeError('truncated', offset, 'fewer than 8 bytes for an item header');
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return { tag: b.readUIntBE(offset, 3), type: b[offset + 3] as number, length: b.readUInt32BE(offset + 4) };
}

// ignoreBOM keeps a leading U+FEFF as text, so decoding then encoding gives back the same bytes.
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const FIXED_LENGTH: Partial<Record<ItemTypeName, number>> = {
  Integer: 4,
  LongInteger: 8,
  Enumeration: 4,
  Boolean: 8,
  DateTime: 8,
  Interval: 4,
};

class Decoder {
  readonly buf: Buffer;
  readonly limits: Required<TtlvLimits>;
  items = 0;
  constructor(buf: Buffer, limits: Required<TtlvLimits>) {
    this.buf = buf;
    this.limits = limits;
  }

  /** Decodes the item at `at`, which must end by `end`; returns it and the offset after its padding. */
  item(at: number, end: number, depth: number): [TtlvItem, number] {
    if (++this.items > this.limits.maxItems) throw new TtlvDecodeError('too_many_items', at, `more than ${this.limits.maxItems} items`);
    if (end - at < HEADER_BYTES) throw new TtlvDecodeError('truncated', at, 'fewer than 8 bytes for an item header');
    const { tag, type: typeCode, length } = readHeader(this.buf, at);
    if (!isValidTag(tag)) throw new TtlvDecodeError('bad_tag', at, `tag 0x${tag.toString(16).padStart(6, '0')} is reserved`);
    const type = TYPE_NAMES.get(typeCode);
    if (type === undefined) throw new TtlvDecodeError('unknown_type', at, `unknown item type 0x${typeCode.toString(16).padStart(2, '0')}`);
    const fixed = FIXED_LENGTH[type];
    if (fixed !== undefined && length !== fixed) throw new TtlvDecodeError('bad_length', at, `${type} has length ${length}, not ${fixed}`);
    if (type === 'BigInteger' && (length === 0 || length % 8 !== 0)) {
      throw new TtlvDecodeError('bad_length', at, `BigInteger length ${length} is not a positive multiple of 8`);
    }
    if (type === 'Structure' && length % 8 !== 0) throw new TtlvDecodeError('bad_length', at, `Structure length ${length} is not a multiple of 8`);
    const start = at + HEADER_BYTES;
    const next = start + pad8(length);
    // `length` is at most 2^32-1, so `next` stays an exact integer; compare before touching any value byte.
    if (next > end) throw new TtlvDecodeError('truncated', at, `${type} of length ${length} runs past the end of its container`);
    for (let i = start + length; i < next; i++) {
      if (this.buf[i] !== 0) throw new TtlvDecodeError('bad_padding', at, 'padding bytes are not zero');
    }
    const v = this.buf.subarray(start, start + length);
    switch (type) {
      case 'Structure': {
        if (depth >= this.limits.maxDepth) throw new TtlvDecodeError('too_deep', at, `structures nest deeper than ${this.limits.maxDepth}`);
        const children: TtlvItem[] = [];
        let pos = start;
        while (pos < next) {
          const [child, after] = this.item(pos, next, depth + 1);
          children.push(child);
          pos = after;
        }
        return [{ tag, type, value: children }, next];
      }
      case 'Integer':
        return [{ tag, type, value: v.readInt32BE(0) }, next];
      case 'Enumeration':
        return [{ tag, type, value: v.readUInt32BE(0) }, next];
      case 'Interval':
        return [{ tag, type, value: v.readUInt32BE(0) }, next];
      case 'LongInteger':
        return [{ tag, type, value: v.readBigInt64BE(0) }, next];
      case 'DateTime':
        return [{ tag, type, value: v.readBigInt64BE(0) }, next];
      case 'BigInteger': {
        const unsigned = BigInt(`0x${v.toString('hex')}`);
        const negative = ((v[0] as number) & 0x80) !== 0;
        const value = negative ? unsigned - (1n << BigInt(length * 8)) : unsigned;
        if (length > 8 && bigIntBytes(value).length < length) {
          throw new TtlvDecodeError('non_minimal', at, 'BigInteger has more sign-extension bytes than needed');
        }
        return [{ tag, type, value }, next];
      }
      case 'Boolean': {
        const value = v.readBigUInt64BE(0);
        if (value > 1n) throw new TtlvDecodeError('bad_value', at, 'Boolean is neither 0 nor 1');
        return [{ tag, type, value: value === 1n }, next];
      }
      case 'TextString': {
        let value: string;
        try {
          value = utf8Strict.decode(v);
        } catch {
          throw new TtlvDecodeError('bad_value', at, 'TextString is not valid UTF-8');
        }
        return [{ tag, type, value }, next];
      }
      case 'ByteString':
        // A copy: callers may keep it while the receive buffer is reused or wiped.
        return [{ tag, type, value: new Uint8Array(v) }, next];
    }
  }
}

/**
 * Decodes exactly one item filling `buf` (normally a whole Response Message). Throws TtlvDecodeError on any
 * malformed input; never returns a partial result.
 */
export function decode(buf: Uint8Array, limits: TtlvLimits = {}): TtlvItem {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  if (buf.length > lim.maxBytes) throw new TtlvDecodeError('too_large', 0, `input of ${buf.length} bytes exceeds ${lim.maxBytes}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const d = new Decoder(b, lim);
  const [item, next] = d.item(0, b.length, 0);
  if (next !== b.length) throw new TtlvDecodeError('trailing_bytes', next, `${b.length - next} bytes after the item`);
  return item;
}

// ---------------------------------------------------------------------------------------------------------------
// Builders, so message code reads as the specification's tables do.

export const structure = (tag: number, value: (TtlvItem | undefined)[]): TtlvItem => ({
  tag,
  type: 'Structure',
  value: value.filter((v): v is TtlvItem => v !== undefined),
});
export const integer = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
export const longInteger = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'LongInteger', value });
export const bigInteger = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'BigInteger', value });
export const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
export const boolean = (tag: number, value: boolean): TtlvItem => ({ tag, type: 'Boolean', value });
export const textString = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
export const byteString = (tag: number, value: Uint8Array): TtlvItem => ({ tag, type: 'ByteString', value });
export const dateTime = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'DateTime', value });
export const interval = (tag: number, value: number): TtlvItem => ({ tag, type: 'Interval', value });
