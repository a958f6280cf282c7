// KMIP 1.x tag and enumeration values, only those the client sends or reads (KMIP 1.4 specification, section 9.1.3).
// Plain `as const` objects (no TypeScript enums: erasable syntax only).

export const Tag = {
  ActivationDate: 0x420001,
  Attribute: 0x420008,
  AttributeIndex: 0x420009,
  AttributeName: 0x42000a,
  AttributeValue: 0x42000b,
  BatchCount: 0x42000d,
  BatchItem: 0x42000f,
  BlockCipherMode: 0x420011,
  CommonTemplateAttribute: 0x42001f,
  CompromiseOccurrenceDate: 0x420021,
  CryptographicAlgorithm: 0x420028,
  CryptographicLength: 0x42002a,
  CryptographicParameters: 0x42002b,
  CryptographicUsageMask: 0x42002c,
  HashingAlgorithm: 0x420038,
  InitialDate: 0x420039,
  IvCounterNonce: 0x42003d,
  KeyBlock: 0x420040,
  KeyCompressionType: 0x420041,
  KeyFormatType: 0x420042,
  KeyMaterial: 0x420043,
  KeyValue: 0x420045,
  KeyWrappingData: 0x420046,
  MaximumItems: 0x42004f,
  MaximumResponseSize: 0x420050,
  Name: 0x420053,
  NameType: 0x420054,
  NameValue: 0x420055,
  ObjectType: 0x420057,
  Operation: 0x42005c,
  PaddingMethod: 0x42005f,
  PrivateKey: 0x420064,
  PrivateKeyTemplateAttribute: 0x420065,
  PrivateKeyUniqueIdentifier: 0x420066,
  ProtocolVersion: 0x420069,
  ProtocolVersionMajor: 0x42006a,
  ProtocolVersionMinor: 0x42006b,
  PublicKey: 0x42006d,
  PublicKeyTemplateAttribute: 0x42006e,
  PublicKeyUniqueIdentifier: 0x42006f,
  QueryFunction: 0x420074,
  RequestHeader: 0x420077,
  RequestMessage: 0x420078,
  RequestPayload: 0x420079,
  ResponseHeader: 0x42007a,
  ResponseMessage: 0x42007b,
  ResponsePayload: 0x42007c,
  ResultMessage: 0x42007d,
  ResultReason: 0x42007e,
  ResultStatus: 0x42007f,
  RevocationMessage: 0x420080,
  RevocationReason: 0x420081,
  RevocationReasonCode: 0x420082,
  ServerInformation: 0x420088,
  State: 0x42008d,
  SymmetricKey: 0x42008f,
  TemplateAttribute: 0x420091,
  TimeStamp: 0x420092,
  UniqueBatchItemId: 0x420093,
  UniqueIdentifier: 0x420094,
  ValidityIndicator: 0x42009b,
  VendorIdentification: 0x42009d,
  DigitalSignatureAlgorithm: 0x4200ae,
  Data: 0x4200c2,
  SignatureData: 0x4200c3,
  TagLength: 0x4200ce,
  AuthenticatedEncryptionAdditionalData: 0x4200fe,
  AuthenticatedEncryptionTag: 0x4200ff,
  Sensitive: 0x420120,
} as const;

export const Operation = {
  Create: 0x01,
  CreateKeyPair: 0x02,
  Register: 0x03,
  Locate: 0x08,
  Get: 0x0a,
  GetAttributes: 0x0b,
  Activate: 0x12,
  Revoke: 0x13,
  Destroy: 0x14,
  Query: 0x18,
  DiscoverVersions: 0x1e,
  Encrypt: 0x1f,
  Decrypt: 0x20,
  Sign: 0x21,
  SignatureVerify: 0x22,
} as const;
export type OperationCode = (typeof Operation)[keyof typeof Operation];

export const ObjectType = {
  Certificate: 0x01,
  SymmetricKey: 0x02,
  PublicKey: 0x03,
  PrivateKey: 0x04,
  SplitKey: 0x05,
  Template: 0x06,
  SecretData: 0x07,
  OpaqueObject: 0x08,
} as const;

export const ResultStatus = { Success: 0x00, OperationFailed: 0x01, OperationPending: 0x02, OperationUndone: 0x03 } as const;

/** KMIP 1.4 result reasons, plus Wrong Key Lifecycle State from KMIP 2.0 (some servers send it in 1.x). */
export const ResultReason = {
  ItemNotFound: 0x01,
  ResponseTooLarge: 0x02,
  AuthenticationNotSuccessful: 0x03,
  InvalidMessage: 0x04,
  OperationNotSupported: 0x05,
  MissingData: 0x06,
  InvalidField: 0x07,
  FeatureNotSupported: 0x08,
  OperationCanceledByRequester: 0x09,
  CryptographicFailure: 0x0a,
  IllegalOperation: 0x0b,
  PermissionDenied: 0x0c,
  ObjectArchived: 0x0d,
  IndexOutOfBounds: 0x0e,
  ApplicationNamespaceNotSupported: 0x0f,
  KeyFormatTypeNotSupported: 0x10,
  KeyCompressionTypeNotSupported: 0x11,
  EncodingOptionError: 0x12,
  KeyValueNotPresent: 0x13,
  AttestationRequired: 0x14,
  AttestationFailed: 0x15,
  Sensitive: 0x16,
  NotExtractable: 0x17,
  ObjectAlreadyExists: 0x18,
  WrongKeyLifecycleState: 0x43,
  GeneralFailure: 0x100,
} as const;

export const State = {
  PreActive: 0x01,
  Active: 0x02,
  Deactivated: 0x03,
  Compromised: 0x04,
  Destroyed: 0x05,
  DestroyedCompromised: 0x06,
} as const;

export const CryptographicAlgorithm = { TripleDes: 0x02, Aes: 0x03, Rsa: 0x04, Ecdsa: 0x06 } as const;

export const UsageMask = { Sign: 0x01, Verify: 0x02, Encrypt: 0x04, Decrypt: 0x08 } as const;

export const NameType = { UninterpretedTextString: 0x01, Uri: 0x02 } as const;

export const KeyFormatType = { Raw: 0x01, Opaque: 0x02, Pkcs1: 0x03, Pkcs8: 0x04, X509: 0x05, TransparentSymmetricKey: 0x07 } as const;

export const BlockCipherMode = { Gcm: 0x09 } as const;

export const PaddingMethod = { None: 0x01, Oaep: 0x02, Pkcs1v15: 0x08, Pss: 0x0a } as const;

export const HashingAlgorithm = { Sha256: 0x06, Sha384: 0x07, Sha512: 0x08 } as const;

export const RevocationReasonCode = {
  Unspecified: 0x01,
  KeyCompromise: 0x02,
  CaCompromise: 0x03,
  AffiliationChanged: 0x04,
  Superseded: 0x05,
  CessationOfOperation: 0x06,
  PrivilegeWithdrawn: 0x07,
} as const;

export const QueryFunction = { QueryOperations: 0x01, QueryObjects: 0x02, QueryServerInformation: 0x03 } as const;

export const ValidityIndicator = { Valid: 0x01, Invalid: 0x02, Unknown: 0x03 } as const;

/** Attribute names as KMIP 1.x spells them in Attribute Name. */
export const AttributeName = {
  UniqueIdentifier: 'Unique Identifier',
  Name: 'Name',
  ObjectType: 'Object Type',
  CryptographicAlgorithm: 'Cryptographic Algorithm',
  CryptographicLength: 'Cryptographic Length',
  CryptographicUsageMask: 'Cryptographic Usage Mask',
  State: 'State',
  InitialDate: 'Initial Date',
  Sensitive: 'Sensitive',
} as const;
