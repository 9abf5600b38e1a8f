'use strict';

const log = require('./log');
const { lineProblem, normaliseSku } = require('./validate');
const { memoryCarts } = require('./carts');

function respond(statusCode, body) {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function parseBody(event) {
  try {
    const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
    return JSON.parse(raw || 'null');
  } catch {
    return undefined;
  }
}

function makeHandler(carts) {
  return async function handler(event) {
    const cartId = event.pathParameters && event.pathParameters.cartId;
    const line = parseBody(event);
    const problem = line === undefined ? 'body is not valid JSON' : lineProblem(line);
    if (problem) {
      log.warn('rejected cart line', { cartId, sku: line && line.sku, quantity: line && line.quantity, reason: problem, requestId: event.requestContext && event.requestContext.requestId });
      return respond(400, { error: problem });
    }
    const sku = normaliseSku(line.sku);
    const count = await carts.addLine(cartId, { sku, quantity: line.quantity });
    log.info('cart line added', { cartId, sku, quantity: line.quantity, lines: count, requestId: event.requestContext && event.requestContext.requestId });
    return respond(201, { cartId, sku, quantity: line.quantity, lines: count });
  };
}

module.exports = { makeHandler, handler: makeHandler(memoryCarts()) };
