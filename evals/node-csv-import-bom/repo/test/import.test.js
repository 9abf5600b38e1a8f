'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { importContacts } = require('../src/import');

test('valid rows are imported, invalid ones rejected with their line', () => {
  const csv = 'email,name,company,opt_in\n Ann@Example.com ,Ann Lee,,yes\nnot-an-email,Bob,Acme,no\n';
  const { imported, rejected } = importContacts(Buffer.from(csv, 'utf8'));
  assert.deepEqual(imported, [
    { email: 'ann@example.com', name: 'Ann Lee', company: null, optIn: true },
  ]);
  assert.deepEqual(rejected, [{ line: 3, problems: ['invalid email "not-an-email"'] }]);
});

test('names with accents survive', () => {
  const { imported } = importContacts(Buffer.from('email,name\nz@example.com,Zoë Müller\n', 'utf8'));
  assert.equal(imported[0].name, 'Zoë Müller');
});
