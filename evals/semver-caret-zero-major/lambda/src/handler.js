'use strict';

const semver = require('semver');

/** The webhook payload schemas this service can send, newest last. */
const SCHEMAS = {
  '0.4.0': (o) => ({ id: o.id, amount: o.totalCents / 100, currency: o.currency }),
  '0.4.2': (o) => ({ id: o.id, amount: o.totalCents / 100, currency: o.currency, status: o.status }),
  '0.5.0': (o) => ({ id: o.id, amount_minor: o.totalCents, currency: o.currency, status: o.status }),
};

class PartnerRejectedError extends Error {
  constructor(partner, range, version, detail) {
    super(`${partner} accepts webhook schema ${range} but was sent ${version}: ${detail}`);
    this.name = 'PartnerRejectedError';
  }
}

/** What the partner's endpoint answers (its contract: schema 0.4.x only). */
function partnerAccepts(payload) {
  if ('amount_minor' in payload) {
    return { status: 422, detail: '422 Unprocessable Entity: unknown field "amount_minor"' };
  }
  return { status: 204 };
}

function deliver(partner, order) {
  const version = semver.maxSatisfying(Object.keys(SCHEMAS), partner.schemaRange);
  const reply = partnerAccepts(SCHEMAS[version](order));
  if (reply.status >= 400) {
    throw new PartnerRejectedError(partner.name, partner.schemaRange, version, reply.detail);
  }
  return version;
}

exports.handler = async (event) => {
  const order = JSON.parse(event.detail.order);
  const partner = { name: 'acme-pay', schemaRange: '^0.4.0' };
  return { delivered: deliver(partner, order) };
};
