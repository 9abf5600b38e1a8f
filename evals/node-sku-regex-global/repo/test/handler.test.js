'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { makeHandler } = require('../src/handler');
const { memoryCarts } = require('../src/carts');

function request(cartId, body) {
  return {
    pathParameters: { cartId },
    requestContext: { requestId: 'req-1' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
  };
}

test('a valid line is added: 201 with the normalised SKU', async () => {
  const carts = memoryCarts();
  const response = await makeHandler(carts)(request('c1', { sku: 'xyz-0042-bl', quantity: 2 }));
  assert.equal(response.statusCode, 201);
  assert.deepEqual(JSON.parse(response.body), { cartId: 'c1', sku: 'XYZ-0042-BL', quantity: 2, lines: 1 });
  assert.deepEqual(await carts.lines('c1'), [{ sku: 'XYZ-0042-BL', quantity: 2 }]);
});

test('an invalid line is refused with 400 and the reason', async () => {
  const handler = makeHandler(memoryCarts());
  const bad = await handler(request('c1', { sku: 'nope', quantity: 1 }));
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(JSON.parse(bad.body), { error: 'invalid SKU' });
  const notJson = await handler(request('c1', '{"sku": '));
  assert.deepEqual(JSON.parse(notJson.body), { error: 'body is not valid JSON' });
});
