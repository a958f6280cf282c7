// KMIP 1.x message framing on top of the TTLV codec: one Request Message with one Batch Item per call, and a strict
// reading of the Response Message (one batch item, the operation asked for, typed accessors that fail with
// KmipProtocolError instead of returning undefined for a field the server must send).
import { KmipProtocolError, errorForResult } from './errors.ts';
import { ResultStatus, Tag } from './tags.ts';
import { type ItemTypeName, type TtlvItem, type TtlvStructure, enumeration, integer, structure, textString } from './ttlv.ts';

export interface ProtocolVersion {
  major: number;
  minor: number;
}

export const protocolVersionItem = (v: ProtocolVersion): TtlvItem =>
  structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, v.major), integer(Tag.ProtocolVersionMinor, v.minor)]);

export function requestMessage(version: ProtocolVersion, operation: number, payload: (TtlvItem | undefined)[], maxResponseSize?: number): TtlvItem {
  return structure(Tag.RequestMessage, [
    structure(Tag.RequestHeader, [
      protocolVersionItem(version),
      maxResponseSize === undefined ? undefined : integer(Tag.MaximumResponseSize, maxResponseSize),
      integer(Tag.BatchCount, 1),
    ]),
    structure(Tag.BatchItem, [enumeration(Tag.Operation, operation), structure(Tag.RequestPayload, payload)]),
  ]);
}

/** A template Attribute: name plus a value item (its tag is always Attribute Value). */
export function attribute(name: string, value: Omit<TtlvItem, 'tag'>): TtlvItem {
  return structure(Tag.Attribute, [textString(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue } as TtlvItem]);
}

// ---------------------------------------------------------------------------------------------------------------
// Typed access to decoded structures.

type ValueOf<T extends ItemTypeName> = Extract<TtlvItem, { type: T }>['value'];

const hex = (tag: number) => `0x${tag.toString(16).padStart(6, '0')}`;

export function asStructure(item: TtlvItem, what: string): TtlvStructure {
  if (item.type !== 'Structure') throw new KmipProtocolError(`${what} (${hex(item.tag)}) is a ${item.type}, not a Structure`);
  return item;
}

export function all<T extends ItemTypeName>(s: TtlvStructure, tag: number, type: T): ValueOf<T>[] {
  const out: ValueOf<T>[] = [];
  for (const c of s.value) {
    if (c.tag !== tag) continue;
    if (c.type !== type) throw new KmipProtocolError(`field ${hex(tag)} is a ${c.type}, expected ${type}`);
    out.push(c.value as ValueOf<T>);
  }
  return out;
}

export function optional<T extends ItemTypeName>(s: TtlvStructure, tag: number, type: T): ValueOf<T> | undefined {
  const values = all(s, tag, type);
  if (values.length > 1) throw new KmipProtocolError(`field ${hex(tag)} appears ${values.length} times`);
  return values[0];
}

export function required<T extends ItemTypeName>(s: TtlvStructure, tag: number, type: T): ValueOf<T> {
  const v = optional(s, tag, type);
  if (v === undefined) throw new KmipProtocolError(`required field ${hex(tag)} is missing`);
  return v;
}

export const requiredStructure = (s: TtlvStructure, tag: number): TtlvStructure => ({ tag, type: 'Structure', value: required(s, tag, 'Structure') });
export function optionalStructure(s: TtlvStructure, tag: number): TtlvStructure | undefined {
  const v = optional(s, tag, 'Structure');
  return v === undefined ? undefined : { tag, type: 'Structure', value: v };
}

// ---------------------------------------------------------------------------------------------------------------
// Response Message.

export interface ParsedResponse {
  version: ProtocolVersion;
  /** The Response Payload of the single batch item; an empty structure when the server sent none. */
  payload: TtlvStructure;
}

/**
 * Reads a Response Message to a one-item request. A failed batch item becomes the typed KmipError for its Result
 * Reason (errors.ts); a message that is not a proper response becomes KmipProtocolError.
 */
export function parseResponse(item: TtlvItem, operation: number, operationName: string): ParsedResponse {
  if (item.tag !== Tag.ResponseMessage) throw new KmipProtocolError(`expected a Response Message, got tag ${hex(item.tag)}`);
  const msg = asStructure(item, 'Response Message');
  const header = requiredStructure(msg, Tag.ResponseHeader);
  const pv = requiredStructure(header, Tag.ProtocolVersion);
  const version = { major: required(pv, Tag.ProtocolVersionMajor, 'Integer'), minor: required(pv, Tag.ProtocolVersionMinor, 'Integer') };
  required(header, Tag.TimeStamp, 'DateTime');
  const count = required(header, Tag.BatchCount, 'Integer');
  const items = all(msg, Tag.BatchItem, 'Structure');
  if (count !== 1 || items.length !== 1) throw new KmipProtocolError(`expected one batch item, got ${items.length} (Batch Count ${count})`);
  const batch: TtlvStructure = { tag: Tag.BatchItem, type: 'Structure', value: items[0] as TtlvItem[] };
  const status = required(batch, Tag.ResultStatus, 'Enumeration');
  const op = optional(batch, Tag.Operation, 'Enumeration');
  if (status !== ResultStatus.Success) {
    // Servers may omit the Operation in a failure they raise before reading the batch item (PyKMIP does).
    if (op !== undefined && op !== operation) throw new KmipProtocolError(`response is for operation ${op}, not ${operation}`);
    if (status !== ResultStatus.OperationFailed) {
      throw new KmipProtocolError(`unexpected Result Status ${status} (asynchronous and undo are never requested)`);
    }
    throw errorForResult(operationName, optional(batch, Tag.ResultReason, 'Enumeration'), optional(batch, Tag.ResultMessage, 'TextString'));
  }
  if (op !== operation) throw new KmipProtocolError(`response is for operation ${String(op)}, not ${operation}`);
  const payload = optionalStructure(batch, Tag.ResponsePayload) ?? { tag: Tag.ResponsePayload, type: 'Structure', value: [] };
  return { version, payload };
}

/** Attributes of a Get Attributes response (or any list of Attribute structures), grouped by name in order. */
export function readAttributes(s: TtlvStructure): Map<string, TtlvItem[]> {
  const out = new Map<string, TtlvItem[]>();
  for (const raw of all(s, Tag.Attribute, 'Structure')) {
    const a: TtlvStructure = { tag: Tag.Attribute, type: 'Structure', value: raw };
    const name = required(a, Tag.AttributeName, 'TextString');
    const values = a.value.filter((c) => c.tag === Tag.AttributeValue);
    if (values.length !== 1) throw new KmipProtocolError(`attribute ${JSON.stringify(name)} has ${values.length} values`);
    const list = out.get(name) ?? [];
    list.push(values[0] as TtlvItem);
    out.set(name, list);
  }
  return out;
}
