// The key vocabulary that storage, audit and authorization share with the key service: states, ids, labels.
// Key types are not here: they are what the key families declare (src/keys/families).

/**
 * enabled ⇄ disabled; enabled|disabled → released (no new signatures; destroyed when the grace period ends,
 * cancel returns it to enabled) → destroyed (material wiped, metadata kept as a tombstone).
 */
export const KEY_STATES = ['enabled', 'disabled', 'released', 'destroyed'] as const;
export type KeyState = (typeof KEY_STATES)[number];

/**
 * Key ids: 1–128 characters of [A-Za-z0-9._-], starting with a letter or digit. No slashes, no
 * control characters, nothing that could be a path segment like `..`.
 */
export const KEY_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
export const KEY_ID_RE = new RegExp(KEY_ID_PATTERN);
export const isValidKeyId = (id: string) => KEY_ID_RE.test(id) && !id.includes('..');

/**
 * Ids under this prefix belong to Keyward itself (the identity provider's token signing keys and secrets key).
 * Reserving the whole prefix also keeps outside callers from creating such a key before Keyward does.
 */
export const SYSTEM_KEY_PREFIX = 'keyward-';
export const isSystemKeyId = (id: string) => id.startsWith(SYSTEM_KEY_PREFIX);

export const LABEL_KEY_RE = /^[a-z0-9][a-z0-9._/-]{0,62}$/;
export const LABEL_VALUE_MAX = 256;
/** C0 controls and DEL: refused in label values and descriptions, which end up in terminals and UIs. */
export const CONTROL_CHARS_RE = /[\u0000-\u001f\u007f]/;
/** Printable text that has a UTF-8 form (no lone surrogate: PostgreSQL's jsonb refuses one, text columns alter it). */
export const isPrintableText = (v: string) => !CONTROL_CHARS_RE.test(v) && v.isWellFormed();
export const isValidLabelValue = (v: unknown): v is string => typeof v === 'string' && v.length <= LABEL_VALUE_MAX && isPrintableText(v);
export type Labels = Record<string, string>;
