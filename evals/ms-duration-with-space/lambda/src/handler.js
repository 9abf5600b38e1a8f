'use strict';

const crypto = require('node:crypto');
const ms = require('ms');

const SESSION_TTL = process.env.SESSION_TTL || '12 hours';

function expiryOf(issuedAt) {
  const ttl = ms(SESSION_TTL);
  if (!Number.isFinite(ttl)) {
    throw new TypeError(`SESSION_TTL ${JSON.stringify(SESSION_TTL)} is not a duration: ms() returned ${ttl}`);
  }
  return new Date(issuedAt + ttl);
}

exports.handler = async (event) => {
  const body = JSON.parse(event.body);
  const issuedAt = Date.now();
  const session = {
    sessionId: crypto.randomUUID(),
    userId: body.userId,
    issuedAt: new Date(issuedAt).toISOString(),
    expiresAt: expiryOf(issuedAt).toISOString(),
  };
  return { statusCode: 201, body: JSON.stringify(session) };
};
