// The one table from problems to gRPC statuses covers every status an API problem code has, so no refusal falls
// through to a default.
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROBLEM_CODES } from '../../src/core/problem-codes.ts';
import { BY_HTTP_STATUS, grpcStatusOf } from '../../src/grpc/status.ts';

test('every API problem code has its gRPC status in the table', () => {
  const api = Object.entries(PROBLEM_CODES).filter(([, spec]) => spec.surface === 'api');
  assert.ok(api.length > 50);
  assert.deepEqual(api.filter(([, spec]) => BY_HTTP_STATUS[spec.status] === undefined).map(([code, spec]) => `${code} (${spec.status})`), []);
});

test('the mapping the README documents', () => {
  const of = (code: keyof typeof PROBLEM_CODES) => grpcStatusOf({ code, status: PROBLEM_CODES[code].status });
  assert.equal(of('request.invalid'), status.INVALID_ARGUMENT);
  assert.equal(of('auth.missing_credential'), status.UNAUTHENTICATED);
  assert.equal(of('auth.scope_denied'), status.PERMISSION_DENIED);
  assert.equal(of('key.system_key'), status.PERMISSION_DENIED);
  assert.equal(of('key.not_found'), status.NOT_FOUND);
  assert.equal(of('key.exists'), status.ALREADY_EXISTS);
  assert.equal(of('key.disabled'), status.FAILED_PRECONDITION);
  assert.equal(of('key.destroyed'), status.FAILED_PRECONDITION);
  assert.equal(of('system.sealed'), status.UNAVAILABLE);
  assert.equal(of('audit.unavailable'), status.UNAVAILABLE);
  assert.equal(of('internal.error'), status.INTERNAL);
});
