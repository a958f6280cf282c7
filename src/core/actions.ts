// The action vocabulary shared by PDPs and audit, and how each action maps onto the permission grammar
// (<prefix>.key.<keyId>.<segment>, <prefix>.keys.<segment>, <prefix>.system.<segment>, ...).

export const ACTIONS = [
  'kms:CreateKey', 'kms:ImportKey', 'kms:ListKeys', 'kms:DescribeKey', 'kms:GetPublicKey', 'kms:Sign', 'kms:Verify',
  'kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:GenerateMac', 'kms:VerifyMac', 'kms:RotateKey',
  'kms:DisableKey', 'kms:EnableKey', 'kms:ReleaseKey', 'kms:CancelKeyRelease', 'kms:DestroyKey', 'kms:GenerateRandom',
  'kms:SignJwt', 'sys:Init', 'sys:Unseal', 'sys:Seal', 'sys:Status', 'sys:Reload', 'sys:RotateSystemKey', 'audit:Read', 'authz:Explain', 'idp:BreakGlass',
] as const;
export type Action = (typeof ACTIONS)[number];

/** Per-key action segments: <prefix>.key.<keyId>.<segment>. `overwrite` = create replacing an existing key. */
export const KEY_ACTION_SEGMENTS = [
  'create', 'overwrite', 'import', 'public', 'sign', 'verify', 'encrypt', 'decrypt', 'mac', 'rotate', 'disable', 'enable',
  'release', 'destroy',
] as const;

export type Scope = 'key' | 'keys' | 'system' | 'audit' | 'authz' | 'idp';

/**
 * scope `key` needs a key id. Choices worth noting:
 * - DescribeKey and GetPublicKey are both `public` (metadata and public half are not secret).
 * - GenerateDataKey is `encrypt` (it encrypts a fresh data key under the key); SignJwt is `sign`.
 * - CancelKeyRelease is `release` (whoever may release may also cancel).
 * - GenerateRandom touches no key: `<prefix>.keys.random`, so `<prefix>.keys.*` covers it with list.
 * - Explain is `<prefix>.authz.explain`.
 * - `explicit`: only a grant naming the permission exactly (no `*`) allows it, whatever the PDP.
 */
export const ACTION_PERMISSIONS: Record<Action, { scope: Scope; segment: string; explicit?: true }> = {
  'kms:CreateKey': { scope: 'key', segment: 'create' },
  'kms:ImportKey': { scope: 'key', segment: 'import' },
  'kms:ListKeys': { scope: 'keys', segment: 'list' },
  'kms:DescribeKey': { scope: 'key', segment: 'public' },
  'kms:GetPublicKey': { scope: 'key', segment: 'public' },
  'kms:Sign': { scope: 'key', segment: 'sign' },
  'kms:Verify': { scope: 'key', segment: 'verify' },
  'kms:Encrypt': { scope: 'key', segment: 'encrypt' },
  'kms:Decrypt': { scope: 'key', segment: 'decrypt' },
  'kms:GenerateDataKey': { scope: 'key', segment: 'encrypt' },
  'kms:GenerateMac': { scope: 'key', segment: 'mac' },
  'kms:VerifyMac': { scope: 'key', segment: 'mac' },
  'kms:RotateKey': { scope: 'key', segment: 'rotate' },
  'kms:DisableKey': { scope: 'key', segment: 'disable' },
  'kms:EnableKey': { scope: 'key', segment: 'enable' },
  'kms:ReleaseKey': { scope: 'key', segment: 'release' },
  'kms:CancelKeyRelease': { scope: 'key', segment: 'release' },
  'kms:DestroyKey': { scope: 'key', segment: 'destroy' },
  'kms:GenerateRandom': { scope: 'keys', segment: 'random' },
  'kms:SignJwt': { scope: 'key', segment: 'sign' },
  'sys:Init': { scope: 'system', segment: 'init' },
  'sys:Unseal': { scope: 'system', segment: 'unseal' },
  'sys:Seal': { scope: 'system', segment: 'seal' },
  'sys:Status': { scope: 'system', segment: 'status' },
  'sys:Reload': { scope: 'system', segment: 'reload' },
  // Rotating Keyward's own keys (the identity provider's): no wildcard grants it, a credential must name it, so a
  // `<prefix>.*` admin role or token does not carry it by accident.
  'sys:RotateSystemKey': { scope: 'system', segment: 'rotate_system_keys', explicit: true },
  'audit:Read': { scope: 'audit', segment: 'read' },
  'authz:Explain': { scope: 'authz', segment: 'explain' },
  // Emergency tokens from the identity provider: <prefix>.idp.break_glass.
  'idp:BreakGlass': { scope: 'idp', segment: 'break_glass' },
};

export const isAction = (v: unknown): v is Action => typeof v === 'string' && Object.hasOwn(ACTION_PERMISSIONS, v);
