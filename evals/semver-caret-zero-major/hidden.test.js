'use strict';

// Hidden check: a caret range on a 0.x version allows patch releases only within its minor
// (^0.4.0 is <0.5.0, as in npm's documentation), and carets on 1.x and 0.0.x are unchanged.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const root = process.env.REPO_ROOT;
const semver = require(root);

test('the package under test is the checkout', () => {
  assert.equal(require.resolve(root), path.join(root, 'index.js'));
});

test('^0.x.y stays within its minor', () => {
  assert.equal(semver.satisfies('0.4.2', '^0.4.0'), true);
  assert.equal(semver.satisfies('0.5.0', '^0.4.0'), false);
  assert.equal(semver.satisfies('1.0.0', '^0.4.1'), false);
  assert.equal(semver.maxSatisfying(['0.4.0', '0.4.2', '0.5.0', '1.0.0'], '^0.4.0'), '0.4.2');
  assert.equal(new semver.Range('^0.4.1').range, '>=0.4.1 <0.5.0-0');
});

test('other carets are unchanged', () => {
  assert.equal(new semver.Range('^1.2.3').range, '>=1.2.3 <2.0.0-0');
  assert.equal(new semver.Range('^0.0.3').range, '>=0.0.3 <0.0.4-0');
  assert.equal(new semver.Range('^0.4').range, '>=0.4.0 <0.5.0-0');
  assert.equal(new semver.Range('^0.4.1-beta.2').range, '>=0.4.1-beta.2 <0.5.0-0');
  assert.equal(semver.satisfies('1.9.0', '^1.2.3'), true);
});
