'use strict';

// Catalogue SKUs: three letters, four digits, and an optional two-character variant
// (ABC-1234, ABC-1234-XL).
const SKU_PATTERN = /^[A-Z]{3}-\d{4}(?:-[A-Z0-9]{2})?$/g;

const MAX_QUANTITY = 99;

/** The SKU as the catalogue writes it: upper case, no surrounding spaces. */
function normaliseSku(sku) {
  return String(sku).trim().toUpperCase();
}

function isValidSku(sku) {
  return SKU_PATTERN.test(normaliseSku(sku));
}

/** The reason a cart line is invalid, or null when it is valid. */
function lineProblem(line) {
  if (line === null || typeof line !== 'object') {
    return 'body must be a JSON object';
  }
  if (!Number.isInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_QUANTITY) {
    return `quantity must be an integer from 1 to ${MAX_QUANTITY}`;
  }
  if (typeof line.sku !== 'string' || !isValidSku(line.sku)) {
    return 'invalid SKU';
  }
  return null;
}

module.exports = { isValidSku, lineProblem, normaliseSku, MAX_QUANTITY };
