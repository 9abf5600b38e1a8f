'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { isValidSku, lineProblem, normaliseSku } = require('../src/validate');

test('a catalogue SKU is valid, with or without a variant', () => {
  assert.equal(isValidSku('ABC-1234'), true);
});

test('malformed SKUs are invalid', () => {
  for (const sku of ['', 'ABC1234', 'AB-1234', 'ABCD-1234', 'ABC-123', 'ABC-1234-X', 'ABC-1234-XXL']) {
    assert.equal(isValidSku(sku), false, sku);
  }
});

test('SKUs are normalised to upper case without spaces', () => {
  assert.equal(normaliseSku('  abc-1234-xl '), 'ABC-1234-XL');
});

test('quantity must be an integer from 1 to 99', () => {
  for (const quantity of [0, 100, 1.5, '2', null]) {
    assert.match(lineProblem({ sku: 'QRS-0001', quantity }), /quantity/, String(quantity));
  }
});

test('a line that is not an object is refused', () => {
  assert.equal(lineProblem(null), 'body must be a JSON object');
  assert.equal(lineProblem('ABC-1234'), 'body must be a JSON object');
});

test('a line without a SKU is refused', () => {
  assert.equal(lineProblem({ quantity: 1 }), 'invalid SKU');
});
