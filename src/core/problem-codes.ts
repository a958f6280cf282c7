// Every problem code Keyward raises, in one table: its HTTP status, its title (the same for every occurrence, as
// RFC 9457 wants of a problem type) and when it happens. `ProblemError` takes a `ProblemCode`, so a code that is not
// here does not compile; the README's error table and the OpenAPI problem responses are generated from this table
// (`npm run errors:table`; test/core/problem-codes.test.ts fails when either drifts).
//
// `surface` says who sees the code: `api` the HTTP API (documented in /openapi.json), `cli` a `keyward` command or
// start-up (an exit code and a message, never an HTTP response), `pdp` the standalone policy decision point
// (`keyward pdp serve`). `retryAfter` is the Retry-After (seconds) every response with the code carries.

export interface ProblemSpec {
  readonly status: number;
  readonly title: string;
  readonly when: string;
  readonly surface: 'api' | 'cli' | 'pdp';
  readonly retryAfter?: number;
}

export const PROBLEM_CODES = {
  // The request itself
  'request.invalid': { status: 400, title: 'Invalid request', surface: 'api', when: 'The body, query or path does not fit the route: a missing or unknown field, a wrong type where the field has no code of its own, a value outside a fixed vocabulary (`key_type`, `state`).' },
  'request.malformed_json': { status: 400, title: 'Malformed JSON', surface: 'api', when: 'The body is not valid JSON, not UTF-8, or not I-JSON (a member named twice, a lone surrogate, a number beyond a double, a `__proto__` member).' },
  'request.empty_body': { status: 400, title: 'Empty body', surface: 'api', when: 'The route needs a JSON body and none was sent.' },
  'request.invalid_content_length': { status: 400, title: 'Invalid content length', surface: 'api', when: '`Content-Length` does not match the body.' },
  'request.bad_url': { status: 400, title: 'Bad URL', surface: 'api', when: 'The URL cannot be decoded or routed.' },
  'request.malformed_http': { status: 400, title: 'Malformed HTTP request', surface: 'api', when: "Node's HTTP parser refused the request line or headers; the connection is closed." },
  'request.invalid_base64': { status: 400, title: 'Invalid base64', surface: 'api', when: 'A field that carries bytes is not base64.' },
  'request.invalid_limit': { status: 400, title: 'Invalid limit', surface: 'api', when: '`limit` is outside 1-1000.' },
  'request.invalid_cursor': { status: 400, title: 'Invalid cursor', surface: 'api', when: 'The list cursor is not one this server handed out.' },
  'request.invalid_label_filter': { status: 400, title: 'Invalid label filter', surface: 'api', when: 'The label filter is not `name=value[,name=value...]`.' },
  'request.timeout': { status: 408, title: 'Request timeout', surface: 'api', when: 'The request was not received in time; the connection is closed.' },
  'request.body_too_large': { status: 413, title: 'Payload too large', surface: 'api', when: 'The body exceeds `server.body_limit`.' },
  'request.uri_too_long': { status: 414, title: 'URI too long', surface: 'api', when: 'A path parameter is too long.' },
  'request.unsupported_media_type': { status: 415, title: 'Unsupported media type', surface: 'api', when: 'The body is not `application/json` (in UTF-8: another `charset` is refused), or comes with a `Content-Encoding` (none is decoded).' },
  'request.headers_too_large': { status: 431, title: 'Request header fields too large', surface: 'api', when: 'The request headers exceed the server limit; the connection is closed.' },
  'route.not_found': { status: 404, title: 'Route not found', surface: 'api', when: 'No route has the path.' },
  'request.method_not_allowed': { status: 405, title: 'Method not allowed', surface: 'api', when: 'The path has routes, but not for this method; `Allow` lists the methods it has.' },
  'internal.error': { status: 500, title: 'Internal server error', surface: 'api', when: 'An unexpected error; the server log has the cause under the `request_id`.' },
  'internal.route_without_policy': { status: 500, title: 'Route without policy', surface: 'api', when: 'A route declares no authorization policy (a programming error); refused rather than allowed.' },

  // The service as a whole
  'system.sealed': { status: 503, title: 'Sealed', surface: 'api', when: 'Keyward is sealed: every key operation waits for unseal.' },
  'system.not_ready': { status: 503, title: 'Not ready', surface: 'api', when: 'The server is starting, or `/readyz` found a check failing (`checks` names them).' },
  'storage.unavailable': { status: 503, title: 'Storage unavailable', surface: 'api', retryAfter: 1, when: 'The database cannot be reached or is refusing work (stopped, restarting, locked past `busy_timeout`, out of disk, read-only).' },
  'storage.corrupt': { status: 500, title: 'Storage corrupt', surface: 'api', when: 'The SQLite database file is damaged; an operator has to look.' },
  'config.invalid': { status: 500, title: 'Invalid configuration', surface: 'cli', when: "Start-up: the audit configuration is unusable (`audit.on_failure: continue` in production, no `audit.signing_key_path`)." },

  // Audit
  'audit.unavailable': { status: 503, title: 'Audit unavailable', surface: 'api', when: 'The audit trail cannot record the event (`audit.on_failure: deny`), so the operation is refused.' },
  'audit.disabled': { status: 404, title: 'Audit disabled', surface: 'api', when: 'An audit endpoint (public key, checkpoint) was asked for while audit is disabled.' },
  'audit.chain_conflict': { status: 500, title: 'Audit chain conflict', surface: 'cli', when: 'Start-up: the audit sinks disagree about the chain head.' },
  'audit.key_invalid': { status: 500, title: 'Audit key invalid', surface: 'cli', when: 'The audit signing or public key file is not an Ed25519 PEM key.' },
  'audit.key_missing': { status: 500, title: 'Audit key missing', surface: 'cli', when: 'The audit signing key file cannot be read.' },
  'audit.key_permissions': { status: 500, title: 'Audit key permissions', surface: 'cli', when: 'Production: the audit signing key file is readable by others than its owner.' },
  'audit.key_exists': { status: 500, title: 'Audit key exists', surface: 'cli', when: '`keyward audit keygen` would overwrite an existing key file.' },
  'audit.key_write_failed': { status: 500, title: 'Audit key not written', surface: 'cli', when: '`keyward audit keygen` cannot create the key file.' },

  // Authentication
  'auth.missing_credential': { status: 401, title: 'Missing credential', surface: 'api', when: 'No credential was presented on a route that needs one.' },
  'auth.malformed_credential': { status: 401, title: 'Malformed credential', surface: 'api', when: 'The credential is empty, malformed, too large, of an unknown kind, or sent twice.' },
  'auth.invalid_credential': { status: 401, title: 'Invalid credential', surface: 'api', when: 'The API key, bootstrap token, client certificate, forwarded identity or token is not valid.' },
  'auth.token_expired': { status: 401, title: 'Token expired', surface: 'api', when: 'The token (or bootstrap token) has expired.' },
  'auth.token_not_yet_valid': { status: 401, title: 'Token not yet valid', surface: 'api', when: "The token's `nbf` is in the future." },
  'auth.token_signature_invalid': { status: 401, title: 'Invalid token signature', surface: 'api', when: 'The token signature does not verify.' },
  'auth.issuer_mismatch': { status: 401, title: 'Issuer mismatch', surface: 'api', when: 'The token was not issued by a trusted issuer.' },
  'auth.audience_mismatch': { status: 401, title: 'Audience mismatch', surface: 'api', when: 'The token audience does not include this service.' },
  'auth.kid_unknown': { status: 401, title: 'Unknown signing key', surface: 'api', when: 'The token names no `kid`, or one the issuer does not publish.' },
  'auth.algorithm_not_allowed': { status: 401, title: 'Algorithm not allowed', surface: 'api', when: "The token's algorithm is not accepted, or does not fit its signing key." },
  'auth.client_not_allowed': { status: 403, title: 'Client not allowed', surface: 'api', when: 'The token was issued to a client this service does not accept.' },
  'auth.jwks_unavailable': { status: 503, title: 'Signing keys unavailable', surface: 'api', retryAfter: 30, when: "The identity provider's signing keys cannot be fetched." },
  'auth.scope_denied': { status: 403, title: 'Insufficient permission', surface: 'api', when: 'The caller lacks the permission (`required_permission`), or a grant denies it.' },

  // Authorization
  'authz.denied': { status: 403, title: 'Forbidden', surface: 'api', when: 'The policy decision point denied the action.' },
  'authz.pdp_unavailable': { status: 503, title: 'Policy decision point unavailable', surface: 'api', retryAfter: 5, when: 'No authorization decision could be had (fail closed).' },
  'pdp.malformed_request': { status: 400, title: 'Malformed PDP request', surface: 'pdp', when: 'The request does not follow the PDP contract.' },
  'pdp.not_found': { status: 404, title: 'Not found', surface: 'pdp', when: 'A path other than `/v1/authorize`.' },
  'pdp.method_not_allowed': { status: 405, title: 'Method not allowed', surface: 'pdp', when: 'A method other than POST.' },
  'pdp.request_too_large': { status: 413, title: 'Request too large', surface: 'pdp', when: 'The request body is too large.' },

  // Keys
  'key.not_found': { status: 404, title: 'Key not found', surface: 'api', when: 'No key has the id.' },
  'key.version_not_found': { status: 404, title: 'Key version not found', surface: 'api', when: 'The key has no such version.' },
  'key.exists': { status: 409, title: 'Key exists', surface: 'api', when: 'A key with the id exists and overwrite was not asked for.' },
  'key.invalid_id': { status: 400, title: 'Invalid key id', surface: 'api', when: 'A key id is not 1-128 characters of `A-Z a-z 0-9 . _ -` starting with a letter or digit.' },
  'key.invalid_label': { status: 400, title: 'Invalid label', surface: 'api', when: 'A label name or value is invalid, or there are more than 64.' },
  'key.invalid_description': { status: 400, title: 'Invalid description', surface: 'api', when: 'The description is too long or contains control characters.' },
  'key.concurrent_modification': { status: 409, title: 'Concurrent modification', surface: 'api', when: 'Another request changed the key meanwhile; retry.' },
  'key.disabled': { status: 409, title: 'Key disabled', surface: 'api', when: 'The key is disabled; the operation needs an enabled key.' },
  'key.released': { status: 409, title: 'Key released', surface: 'api', when: 'The key is released; the operation needs an enabled key.' },
  'key.destroyed': { status: 410, title: 'Key destroyed', surface: 'api', when: 'The key is destroyed.' },
  'key.invalid_state_transition': { status: 409, title: 'Invalid state transition', surface: 'api', when: "The key's state does not allow the change (e.g. enabling a destroyed key)." },
  'key.system_key': { status: 403, title: 'System key', surface: 'api', when: "The key is one of Keyward's own; only its public keys are readable through the key API." },
  'key.usage_mismatch': { status: 400, title: 'Usage mismatch', surface: 'api', when: "The operation does not fit the key's usage (e.g. signing with an AES key)." },
  'key.version_not_selectable': { status: 400, title: 'Version not selectable', surface: 'api', when: 'A version was named for an operation that always uses the newest (signing).' },
  'key.overwrite_disabled': { status: 403, title: 'Overwrite disabled', surface: 'api', when: 'Overwrite was asked for and `keys.allow_overwrite` is off.' },
  'key.overwrite_refused': { status: 409, title: 'Overwrite refused', surface: 'api', when: 'The key to overwrite is held by an HSM provider; destroy it first.' },
  'key.import_invalid': { status: 400, title: 'Invalid import', surface: 'api', when: 'The key material cannot be imported (format, encoding, or both material and `external_id`).' },
  'key.import_type_mismatch': { status: 400, title: 'Import type mismatch', surface: 'api', when: 'The key material is not of the declared `key_type`.' },
  'key.import_not_private': { status: 400, title: 'Import needs a private key', surface: 'api', when: 'A public key was given where the private key is needed.' },
  'key.external_invalid': { status: 400, title: 'Invalid external key', surface: 'api', when: 'Hold-your-own-key: the named HSM object does not exist, is ambiguous, inactive or not of the declared type.' },
  'key.external_immutable': { status: 409, title: 'External key immutable', surface: 'api', when: "An external key was to be rotated; its owner rotates it." },
  'key.external_revoked': { status: 403, title: 'External key revoked', surface: 'api', when: "An external key's owner revoked, deleted or replaced it, or withdrew Keyward's access." },
  'key.provider_unsupported': { status: 422, title: 'Provider cannot do this', surface: 'api', when: 'The key provider cannot do the operation with this key type (never emulated in software).' },
  'key.provider_not_configured': { status: 400, title: 'Provider not configured', surface: 'api', when: 'The request names a key provider this instance has not configured.' },
  'key.provider_unknown': { status: 500, title: 'Provider unknown', surface: 'api', when: 'A stored key names a provider this version of Keyward does not know.' },

  // Cryptographic operations
  'crypto.input_invalid': { status: 400, title: 'Invalid input', surface: 'api', when: 'Send exactly one of message or digest; or the HSM refused the input.' },
  'crypto.message_invalid': { status: 400, title: 'Invalid message', surface: 'api', when: 'The message is not bytes.' },
  'crypto.digest_length': { status: 400, title: 'Wrong digest length', surface: 'api', when: "The digest's length does not fit its hash algorithm." },
  'crypto.digest_not_supported': { status: 400, title: 'Digest not supported', surface: 'api', when: 'A digest was sent for a key that signs messages only (Ed25519).' },
  'crypto.hash_algorithm_required': { status: 400, title: 'Hash algorithm required', surface: 'api', when: 'A digest was sent without its `hash_algorithm`.' },
  'crypto.hash_algorithm_unsupported': { status: 400, title: 'Hash algorithm unsupported', surface: 'api', when: 'The hash algorithm is unknown, or given for a key that signs the message itself.' },
  'crypto.hash_algorithm_mismatch': { status: 400, title: 'Hash algorithm mismatch', surface: 'api', when: "`hash_algorithm` differs from the digest's." },
  'crypto.rsa_padding_unsupported': { status: 400, title: 'RSA padding unsupported', surface: 'api', when: '`rsa_padding` is not pkcs1 or pss, or is given for a non-RSA key.' },
  'crypto.ecdsa_format_unsupported': { status: 400, title: 'Signature format unsupported', surface: 'api', when: '`signature_format` is not der or raw, or is given for a non-ECDSA key.' },
  'crypto.operation_unsupported': { status: 400, title: 'Operation unsupported', surface: 'api', when: "The key's type does not support the operation." },
  'crypto.jwt_claims_invalid': { status: 400, title: 'Invalid JWT claims', surface: 'api', when: 'The claims to sign are not a JSON object of the allowed shape.' },
  'crypto.jwt_header_invalid': { status: 400, title: 'Invalid JWT header', surface: 'api', when: '`typ` is not 1-64 printable ASCII characters.' },
  'crypto.decrypt_failed': { status: 400, title: 'Decryption failed', surface: 'api', when: 'The ciphertext could not be decrypted (neutral: says nothing about why).' },
  'crypto.ciphertext_malformed': { status: 400, title: 'Malformed ciphertext', surface: 'api', when: 'The ciphertext is not a Keyward ciphertext.' },
  'crypto.key_version_unavailable': { status: 400, title: 'Key version unavailable', surface: 'api', when: 'The ciphertext or request names a key version that has no material (destroyed).' },
  'crypto.payload_too_large': { status: 400, title: 'Payload too large', surface: 'api', when: 'A message or plaintext exceeds `keys.max_payload_bytes`.' },
  'crypto.random_length': { status: 400, title: 'Invalid random length', surface: 'api', when: 'The random byte count is out of range.' },
  'crypto.data_key_length': { status: 400, title: 'Invalid data key length', surface: 'api', when: 'The data key size is not one of the allowed sizes.' },
  'crypto.key_material_invalid': { status: 500, title: 'Key material invalid', surface: 'api', when: 'Stored key material does not fit its key type (a storage or programming error).' },
  'crypto.key_version_invalid': { status: 500, title: 'Key version invalid', surface: 'api', when: 'A key version does not fit the ciphertext header (a programming error).' },
  'crypto.key_type_unknown': { status: 500, title: 'Key type unknown', surface: 'api', when: 'A stored key has a type no key family implements.' },

  // Hardware key providers
  'hsm.unavailable': { status: 503, title: 'HSM unavailable', surface: 'api', retryAfter: 5, when: 'The HSM (PKCS#11 token or KMIP server) cannot be reached, refused the login, or its provider is not configured here.' },
  'hsm.key_unusable': { status: 409, title: 'HSM key unusable', surface: 'api', when: "An HSM-held key's object was revoked or removed outside Keyward." },
  'hsm.mechanism_unsupported': { status: 422, title: 'Mechanism unsupported', surface: 'api', when: 'The PKCS#11 token does not support the mechanism.' },
  'hsm.key_not_found': { status: 404, title: 'HSM key not found', surface: 'api', when: 'The PKCS#11 token holds no object for the key.' },
  'hsm.key_exists': { status: 409, title: 'HSM key exists', surface: 'api', when: 'The PKCS#11 token already holds an object with the label.' },
  'hsm.key_type_mismatch': { status: 400, title: 'HSM key type mismatch', surface: 'api', when: "The token's object is not of the key's type." },
  'hsm.input_invalid': { status: 400, title: 'HSM refused the input', surface: 'api', when: 'The PKCS#11 token refused the input as invalid.' },
  'hsm.decrypt_failed': { status: 400, title: 'HSM decryption failed', surface: 'api', when: 'The PKCS#11 token could not decrypt (authentication tag mismatch).' },
  'hsm.operation_failed': { status: 500, title: 'HSM operation failed', surface: 'api', when: 'The HSM failed the operation for a reason of its own.' },

  // Seal
  'seal.not_initialized': { status: 409, title: 'Seal not initialized', surface: 'api', when: 'The seal has not been initialized.' },
  'seal.already_initialized': { status: 409, title: 'Seal already initialized', surface: 'api', when: 'Init was asked for a seal that is initialized.' },
  'seal.not_hsm_seal': { status: 409, title: 'Not an HSM seal', surface: 'api', when: 'HSM auto-unseal was asked for while the seal is Shamir.' },
  'seal.migration_required': { status: 409, title: 'Seal migration required', surface: 'api', when: 'The root key is wrapped for another seal than the configured one: unseal with shares to migrate.' },
  'seal.recovery_required': { status: 409, title: 'Seal recovery required', surface: 'api', when: 'The HSM seal key no longer opens the root key: unseal with the recovery shares.' },
  'seal.concurrent_migration': { status: 409, title: 'Concurrent seal migration', surface: 'api', when: 'Another instance changed the seal meanwhile; unseal again.' },
  'seal.invalid_parameters': { status: 400, title: 'Invalid seal parameters', surface: 'api', when: 'Shares and threshold are not integers with 1 ≤ threshold ≤ shares (threshold ≥ 2 unless shares = 1).' },
  'seal.share_malformed': { status: 400, title: 'Malformed share', surface: 'api', when: 'A share is not base64 of the share length.' },
  'seal.share_invalid': { status: 400, title: 'Invalid share', surface: 'api', when: 'The share does not belong to this installation.' },
  'seal.share_duplicate': { status: 400, title: 'Duplicate share', surface: 'api', when: 'The share was already submitted in this unseal round.' },
  'seal.unseal_failed': { status: 400, title: 'Unseal failed', surface: 'api', when: 'The submitted shares did not unseal the root key; progress was reset.' },
  'seal.material_corrupt': { status: 500, title: 'Seal material corrupt', surface: 'api', when: 'Stored sealed material could not be opened with the root key.' },
  'seal.dev_unseal_file_missing': { status: 500, title: 'Dev unseal file missing', surface: 'cli', when: 'Dev start-up: the store is initialized but the dev unseal file is gone.' },
  'seal.dev_unseal_file_invalid': { status: 500, title: 'Dev unseal file invalid', surface: 'cli', when: 'Dev start-up: the dev unseal file is not JSON with a `share` string.' },

  // Identity provider
  'idp.realm_not_found': { status: 404, title: 'Realm not found', surface: 'api', when: 'No identity provider realm has the name (problem+json endpoints; OAuth endpoints answer `invalid_request`).' },
  'idp.directory_unavailable': { status: 503, title: 'Directory unavailable', surface: 'api', retryAfter: 5, when: "A realm's user directory cannot answer; sign-in stops (no fallback)." },
  'idp.realm_file_invalid': { status: 400, title: 'Invalid realm file', surface: 'cli', when: '`keyward idp realm apply`: the realm file does not validate.' },
  'idp.realm_mismatch': { status: 400, title: 'Realm mismatch', surface: 'cli', when: '`keyward idp realm apply`: the file is for another realm.' },
  'idp.secret_env_missing': { status: 400, title: 'Secret variable missing', surface: 'cli', when: '`keyward idp realm apply`: an environment variable a secret references is not set.' },

  // Identity documents and LDAP directories (`keyward identity`, `keyward ldap`)
  'identity.provision_target_invalid': { status: 400, title: 'Invalid provisioning target', surface: 'cli', when: '`--to` is not builtin, `ldap://HOST:PORT` or `ldaps://HOST:PORT`.' },
  'ldap.url_invalid': { status: 400, title: 'Invalid directory URL', surface: 'cli', when: 'The directory URL is not an ldap:// or ldaps:// URL, or StartTLS was asked for with ldaps://.' },
  'ldap.bind_failed': { status: 401, title: 'Bind refused', surface: 'cli', when: "The directory refused the bind DN's credentials." },
  'ldap.insufficient_access': { status: 403, title: 'Insufficient access', surface: 'cli', when: 'The bind DN may not do the operation.' },
  'ldap.no_such_object': { status: 404, title: 'No such entry', surface: 'cli', when: 'The directory has no such entry.' },
  'ldap.base_not_found': { status: 404, title: 'Base DN not found', surface: 'cli', when: 'The directory has no entry at the base DN.' },
  'ldap.entry_exists': { status: 409, title: 'Entry exists', surface: 'cli', when: 'The entry already exists.' },
  'ldap.provision_conflict': { status: 409, title: 'Provisioning conflict', surface: 'cli', when: 'Entries in the directory conflict with the document to provision.' },
  'ldap.operation_failed': { status: 502, title: 'Directory refused the operation', surface: 'cli', when: 'The directory refused the operation with another LDAP result code.' },
  'ldap.directory_unavailable': { status: 503, title: 'Directory unavailable', surface: 'cli', when: 'The directory cannot be reached.' },

  // Migration (`keyward migrate`)
  'migrate.config_invalid': { status: 400, title: 'Invalid configuration', surface: 'cli', when: 'The configuration file cannot be read, or its identity provider section is invalid.' },
  'migrate.source_missing': { status: 400, title: 'Source missing', surface: 'cli', when: 'Neither `--input` nor `--config` was given.' },
  'migrate.realm_unknown': { status: 400, title: 'Realm unknown', surface: 'cli', when: 'The configuration has no such identity provider realm.' },
  'migrate.contract_results_invalid': { status: 400, title: 'Invalid contract results', surface: 'cli', when: 'The contract test results file cannot be read or does not validate.' },
  'migrate.output_exists': { status: 409, title: 'Output exists', surface: 'cli', when: 'The output exists and `--overwrite` was not given.' },
  'migrate.store_unavailable': { status: 503, title: 'Identity store unavailable', surface: 'cli', when: "The identity provider's store cannot be opened." },
  'conformance.issuer_unavailable': { status: 503, title: 'Issuer unavailable', surface: 'cli', when: 'keyward conformance run gets no answer from the issuer (connection refused, DNS, TLS or a timeout): nothing was tested.' },
  'conformance.browser_unavailable': { status: 503, title: 'Browser unavailable', surface: 'cli', when: 'keyward conformance run cannot start headless Chromium (playwright-core missing, or no browser at the given path).' },
} as const satisfies Record<string, ProblemSpec>;

export type ProblemCode = keyof typeof PROBLEM_CODES;

/** The codes whose status is `S`: `badRequest` takes only 400 codes, and so on. */
export type ProblemCodeWithStatus<S extends number> = { [C in ProblemCode]: (typeof PROBLEM_CODES)[C]['status'] extends S ? C : never }[ProblemCode];

export const problemSpec = (code: ProblemCode): ProblemSpec => PROBLEM_CODES[code];
