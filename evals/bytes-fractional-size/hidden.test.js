'use strict';

// Hidden check: sizes with a fractional number of units ("1.5GB") parse to the full amount,
// and whole ones, bare numbers and formatting are unchanged.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const root = process.env.REPO_ROOT;
const bytes = require(root);

test('the package under test is the checkout', () => {
  assert.equal(require.resolve(root), path.join(root, 'index.js'));
});

test('fractional units', () => {
  assert.equal(bytes.parse('1.5GB'), 1610612736);
  assert.equal(bytes.parse('0.5kb'), 512);
  assert.equal(bytes.parse('2.25 MB'), 2359296);
  assert.equal(bytes.parse('+1.5KB'), 1536);
  assert.equal(bytes('1.1kb'), 1126);
});

test('whole units, bare numbers and formatting', () => {
  assert.equal(bytes.parse('1GB'), 1073741824);
  assert.equal(bytes.parse('1024'), 1024);
  assert.equal(bytes.parse('1.9'), 1);
  assert.equal(bytes.parse('nope'), null);
  assert.equal(bytes(1610612736), '1.5GB');
});
