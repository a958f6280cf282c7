import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duplicateMemberName, ijsonViolation } from '../../src/audit/strict-json.ts';

test('duplicate member names are found per object, at any depth, without recursion', () => {
  assert.equal(duplicateMemberName('{"a":1,"a":2}'), 'a');
  assert.equal(duplicateMemberName('{"\\u0061":1,"a":2}'), 'a');
  assert.equal(duplicateMemberName('{"x":["k",{"k":1,"k":2}]}'), 'k');
  assert.equal(duplicateMemberName('{"a":{},"b":[],"a":0}'), 'a');
  // Names in sibling or nested objects, and strings that are values, are not duplicates.
  assert.equal(duplicateMemberName('{"a":{"b":1},"b":2}'), undefined);
  assert.equal(duplicateMemberName('{"a":[{"x":1},{"x":1}]}'), undefined);
  assert.equal(duplicateMemberName('{"a":"b","b":"a"}'), undefined);
  // Deeper than a recursive walk (or JSON.stringify) survives.
  const depth = 200_000;
  assert.equal(duplicateMemberName(`${'{"a":'.repeat(depth)}{"z":1,"z":2}${'}'.repeat(depth)}`), 'z');
  const deep = `${'{"a":['.repeat(depth)}1${']}'.repeat(depth)}`;
  assert.equal(ijsonViolation(deep, JSON.parse(deep)), undefined);
});

test('lone surrogates are found in values and member names, however deep', () => {
  for (const text of ['{"a":"\\ud800"}', '{"\\udfff":1}', '[[["x\\ud83d"]]]']) assert.match(String(ijsonViolation(text, JSON.parse(text))), /lone surrogate/);
  assert.equal(ijsonViolation('{"k":"\\ud83d\\udd11"}', JSON.parse('{"k":"\\ud83d\\udd11"}')), undefined);
  const depth = 200_000;
  const deep = `${'['.repeat(depth)}"\\ud800"${']'.repeat(depth)}`;
  assert.match(String(ijsonViolation(deep, JSON.parse(deep))), /lone surrogate/);
});
