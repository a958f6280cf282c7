// One gRPC call through the same stages as a REST request: authenticate (credentials from metadata and the TLS
// peer), validate (the REST schema of the body the message stands for), authorize, run the key service; refusals
// audited exactly as REST audits them, then sent as a gRPC status with the problem code in trailing metadata.
import { Metadata, type sendUnaryData, type ServerUnaryCall, status as Status } from '@grpc/grpc-js';
import { Ajv, type ValidateFunction } from 'ajv';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { type RefusalLedger, recordRefusal, validId } from '../audit/refusals.ts';
import type { OperationContext } from '../authn/context.ts';
import { type AuthenticationDeps, authenticateCall } from '../authn/hook.ts';
import type { AuthnRequest, Principal } from '../authn/types.ts';
import { type AuthorizationDeps, authorize } from '../authz/hook.ts';
import { badRequest, isProblem } from '../core/problem.ts';
import { type FieldCodes, toProblem } from '../http/errors.ts';
import { requestIdOf } from '../http/request-id.ts';
import type { AuthzTarget, CallInfo } from '../http/security.ts';
import { keyIdParams } from '../keys/routes/schemas.ts';
import { grpcError } from './status.ts';

export interface CallDeps {
  logger: Logger;
  audit: RefusalLedger;
  authentication: AuthenticationDeps;
  authorization: AuthorizationDeps;
  /** Each call's method (e.g. Sign), gRPC status name and duration, for metrics. */
  observe?: ((method: string, code: string, seconds: number) => void) | undefined;
}

/** What REST's route declaration says, for one RPC. `B` is the REST body (or query) the message stands for. */
export interface RpcSpec<M, B> {
  /** The REST body of this message; may throw a ProblemError (a field REST could not have sent). */
  body: (message: M) => B;
  /** The JSON schema REST validates that body with, its field codes, and where REST finds it. */
  schema?: { validate: ValidateFunction; fieldCodes?: FieldCodes | undefined; context: 'body' | 'querystring' | 'params' };
  /** The key id REST takes from the path: checked against the same grammar (key.invalid_id). */
  keyId?: (message: M) => string;
  /** What the caller must be allowed, as the REST route declares it. */
  targets: (message: M, body: B) => AuthzTarget[];
  /** The REST handler: the key service call, and its response as REST's JSON (bytes where REST has base64). */
  run: (ctx: OperationContext, message: M, body: B) => Promise<unknown>;
}

// The options Fastify validates REST bodies with (src/app/app.ts), so a message is judged as its REST body is.
const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false, strict: false });
export const compile = (schema: object): ValidateFunction => ajv.compile(schema);

const validateKeyId = compile(keyIdParams);

/** What a handler receives in place of a message that does not decode as its protobuf type. */
const UNDECODABLE: unique symbol = Symbol('undecodable');
type Undecodable = { readonly [UNDECODABLE]: string };
const isUndecodable = (m: unknown): m is Undecodable => typeof m === 'object' && m !== null && UNDECODABLE in m;

/**
 * Wraps a method's request decoder so that bytes which are not its message reach the handler as a marker: grpc-js
 * would answer INTERNAL with no problem code and no audit event; the handler refuses them as REST refuses a body that
 * does not parse, after authentication (an anonymous caller learns nothing about the message).
 */
export function tolerantDecoder<M>(decode: (b: Buffer) => M, type: string): (b: Buffer) => M {
  return (b) => {
    try {
      return decode(b);
    } catch {
      return { [UNDECODABLE]: type } as Undecodable as M;
    }
  };
}

function validate(v: ValidateFunction, value: unknown, context: 'body' | 'querystring' | 'params', fieldCodes?: FieldCodes): void {
  if (v(value)) return;
  // The shape Fastify gives its error handler, so toProblem picks the code REST would.
  throw toProblem({ validation: v.errors ?? [], validationContext: context }, false, fieldCodes);
}

/** Request metadata as the headers an HTTP request would carry (binary `-bin` entries have no header form). */
function headersOf(md: Metadata): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(md.getMap())) if (typeof v === 'string') out[k] = v;
  return out;
}

/** `1.2.3.4:5678` or `[::1]:5678` (grpc-js's peer string) → the address alone. */
function peerAddress(peer: string): string {
  const i = peer.lastIndexOf(':');
  const host = i > 0 ? peer.slice(0, i) : peer;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function credentialsOf(call: ServerUnaryCall<unknown, unknown>, info: CallInfo, headers: IncomingHttpHeaders): AuthnRequest {
  // Unlike REST, several authorization fields cannot be refused here: Node's HTTP/2 layer keeps the first of them
  // (authorization is a single-value header) before grpc-js builds the metadata.
  // grpc-js hands over a client certificate only when the TLS layer verified it against the configured CAs.
  const cert = call.getAuthContext().sslPeerCertificate;
  return { headers, sourceIp: info.sourceIp, peerCertificate: cert, peerAuthorized: cert !== undefined, requestId: info.requestId };
}

/** A grpc-js unary handler for one RPC of the key API. `method` is the full gRPC method path, for audit events. */
export function unary<M, B>(deps: CallDeps, method: string, spec: RpcSpec<M, B>) {
  const name = method.slice(method.lastIndexOf('/') + 1);
  return (call: ServerUnaryCall<M, unknown>, callback: sendUnaryData<unknown>): void => {
    const started = performance.now();
    const headers = headersOf(call.metadata);
    const ua = headers['user-agent'];
    const info: CallInfo = { requestId: requestIdOf(headers['x-request-id']), sourceIp: peerAddress(call.getPeer()), userAgent: typeof ua === 'string' ? ua.slice(0, 256) : undefined };
    const md = new Metadata();
    md.set('x-request-id', info.requestId);
    call.sendMetadata(md);
    deps.audit.begin(info.requestId);
    let principal: Principal | null = null;
    let body: B | undefined;
    const serve = async () => {
      principal = await authenticateCall(deps.authentication, info, method, () => credentialsOf(call, info, headers));
      if (isUndecodable(call.request)) throw badRequest('request.invalid', `the message is not a valid ${call.request[UNDECODABLE]}`);
      // proto3 cannot tell an empty key_id from an unset one: both are REST's empty path segment (key.invalid_id).
      if (spec.keyId) validate(validateKeyId, { id: spec.keyId(call.request) ?? '' }, 'params');
      body = spec.body(call.request);
      if (spec.schema) validate(spec.schema.validate, body, spec.schema.context, spec.schema.fieldCodes);
      for (const target of spec.targets(call.request, body)) await authorize(deps.authorization, info, principal, target);
      return spec.run({ principal, requestId: info.requestId, sourceIp: info.sourceIp, userAgent: info.userAgent }, call.request, body);
    };
    const answer = async (): Promise<Status> => {
      let response: unknown;
      try {
        response = await serve();
      } catch (err) {
        let problem = toProblem(err);
        if (!isProblem(err)) deps.logger.error({ err: { type: (err as Error)?.name, message: (err as Error)?.message, stack: (err as Error)?.stack }, request_id: info.requestId, method }, 'unhandled error');
        problem = await recordRefusal(deps.audit, { principal, ...info, ...refusedAction(spec, method, call.request, body), metadata: { method, status: problem.status } }, problem);
        const error = grpcError(problem, info.requestId);
        callback(error);
        return error.code!;
      } finally {
        deps.audit.end(info.requestId);
      }
      callback(null, response);
      return Status.OK;
    };
    void answer().then((code) => deps.observe?.(name, Status[code], (performance.now() - started) / 1000));
  };
}

/** As REST does: the action the call would have been authorized for, else the method; the key id when valid. */
function refusedAction<M, B>(spec: RpcSpec<M, B>, method: string, message: M, body: B | undefined): { action: string; keyId?: string | undefined } {
  try {
    const target = spec.targets(message, body as B)[0];
    if (target) return { action: target.action, keyId: validId(target.keyId) };
  } catch {
    // fall through to the method
  }
  return { action: method, keyId: validId(spec.keyId?.(message)) };
}
