'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parseCsv } = require('../src/csv');

test('records are keyed by the header row', () => {
  assert.deepEqual(parseCsv('email,name\na@example.com,Ann\nb@example.com,Bob\n'), [
    { email: 'a@example.com', name: 'Ann' },
    { email: 'b@example.com', name: 'Bob' },
  ]);
});

test('quoted fields keep commas, quotes and line breaks', () => {
  const text = 'name,company\r\n"Lee, Ann","The ""Best"" Co"\r\n"multi\nline",x\r\n';
  assert.deepEqual(parseCsv(text), [
    { name: 'Lee, Ann', company: 'The "Best" Co' },
    { name: 'multi\nline', company: 'x' },
  ]);
});

test('blank lines are skipped and short rows padded', () => {
  assert.deepEqual(parseCsv('a,b\n\n1\n'), [{ a: '1', b: '' }]);
});

test('empty input has no records', () => {
  assert.deepEqual(parseCsv(''), []);
});
