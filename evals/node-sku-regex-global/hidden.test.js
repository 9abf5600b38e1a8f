'use strict';

// Hidden check: SKU validation gives the same answer however often it is called in one
// process (a warm Lambda container), and still refuses malformed SKUs.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const root = process.env.REPO_ROOT;
const { isValidSku } = require(path.join(root, 'src/validate.js'));
const { makeHandler } = require(path.join(root, 'src/handler.js'));
const { memoryCarts } = require(path.join(root, 'src/carts.js'));

test('a valid SKU stays valid call after call', () => {
  for (let i = 0; i < 5; i += 1) {
    assert.equal(isValidSku('ABC-1234'), true, `call ${i + 1}`);
    assert.equal(isValidSku('abc-1234-xl'), true, `call ${i + 1}`);
  }
});

test('malformed SKUs stay invalid, before and after valid ones', () => {
  for (const sku of ['ABC-1234 ABC-1234', 'ABC-12345', 'XABC-1234', 'ABC-1234-', '']) {
    assert.equal(isValidSku('QRS-0001'), true);
    assert.equal(isValidSku(sku), false, sku);
  }
});

test('consecutive requests with valid lines are all added', async () => {
  const carts = memoryCarts();
  const handler = makeHandler(carts);
  const statuses = [];
  for (const sku of ['TSH-0192-BL', 'TSH-0192-BL', 'MUG-0007', 'CAP-2210-RD']) {
    const event = {
      pathParameters: { cartId: 'c-77' },
      requestContext: { requestId: `r-${statuses.length}` },
      body: JSON.stringify({ sku, quantity: 1 }),
      isBase64Encoded: false,
    };
    statuses.push((await handler(event)).statusCode);
  }
  assert.deepEqual(statuses, [201, 201, 201, 201]);
  assert.equal((await carts.lines('c-77')).length, 4);
});
