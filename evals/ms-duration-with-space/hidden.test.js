'use strict';

// Hidden check: durations written with a space between the number and the unit ("12 hours",
// as the README documents) parse again, and the compact forms still do.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const root = process.env.REPO_ROOT;
const ms = require(root);

test('the package under test is the checkout', () => {
  assert.equal(require.resolve(root), path.join(root, 'index.js'));
});

test('a number and a unit separated by spaces', () => {
  assert.equal(ms('12 hours'), 12 * 60 * 60 * 1000);
  assert.equal(ms('1.5 h'), 90 * 60 * 1000);
  assert.equal(ms('2 days'), 2 * 24 * 60 * 60 * 1000);
  assert.equal(ms('10  minutes'), 10 * 60 * 1000);
  assert.equal(ms('-3 s'), -3000);
});

test('compact forms and what is not a duration are unchanged', () => {
  assert.equal(ms('12h'), 12 * 60 * 60 * 1000);
  assert.equal(ms('100'), 100);
  assert.equal(ms('.5m'), 30000);
  assert.equal(ms('1 fortnight'), undefined);
  assert.equal(ms('hours'), undefined);
  assert.equal(ms(60000), '1m');
});
