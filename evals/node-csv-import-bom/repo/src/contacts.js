'use strict';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** A contact as the CRM stores it, from one CSV record. */
function normaliseContact(record) {
  return {
    email: record.email.trim().toLowerCase(),
    name: (record.name || '').trim(),
    company: (record.company || '').trim() || null,
    optIn: ['yes', 'y', 'true', '1'].includes((record.opt_in || '').trim().toLowerCase()),
  };
}

/** The reasons a contact cannot be imported (none: it can). */
function problemsOf(contact) {
  const problems = [];
  if (!EMAIL.test(contact.email)) {
    problems.push(`invalid email ${JSON.stringify(contact.email)}`);
  }
  if (!contact.name) {
    problems.push('missing name');
  }
  return problems;
}

module.exports = { normaliseContact, problemsOf };
