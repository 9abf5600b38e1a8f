'use strict';

/** An in-memory cart store with the interface of the DynamoDB one. */
function memoryCarts() {
  const carts = new Map();
  return {
    async addLine(cartId, line) {
      const lines = carts.get(cartId) || [];
      lines.push(line);
      carts.set(cartId, lines);
      return lines.length;
    },
    async lines(cartId) {
      return carts.get(cartId) || [];
    },
  };
}

module.exports = { memoryCarts };
