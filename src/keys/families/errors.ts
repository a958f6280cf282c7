// Problems the key families raise. Request errors are 400s with their own codes; a stored key or a call that does
// not fit its family is a programming or storage error: a 500 with no key detail.
import { ProblemError, badRequest, type ProblemCodeWithStatus } from '../../core/problem.ts';

/** A programming or storage error, not the caller's fault: surfaces as a 500 with no key detail. */
export const internalError = (code: ProblemCodeWithStatus<500>, detail: string) => new ProblemError({ code, detail });

/** A key type that no family declares: a stored record from another version of Keyward, or a programming error. */
export const unknownKeyType = (type: string) => internalError('crypto.key_type_unknown', `no key family implements key type ${JSON.stringify(type)}`);

export const operationUnsupported = (type: string, operation: string) =>
  badRequest('crypto.operation_unsupported', `${type} keys do not support ${operation}`);

export const importInvalid = (detail: string) => badRequest('key.import_invalid', detail);
export const importMismatch = (type: string, detail: string) => badRequest('key.import_type_mismatch', `not a ${type} key: ${detail}`);
