'use strict';

/** One JSON log line (level, message, fields), as the service's dashboards query them. */
function log(level, message, fields = {}) {
  const line = { level, message, timestamp: new Date().toISOString(), service: 'checkout-api', ...fields };
  const out = { ERROR: console.error, WARN: console.warn }[level] || console.log;
  out(JSON.stringify(line));
}

module.exports = {
  info: (message, fields) => log('INFO', message, fields),
  warn: (message, fields) => log('WARN', message, fields),
  error: (message, fields) => log('ERROR', message, fields),
};
