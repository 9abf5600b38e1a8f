'use strict';

// Hidden check: a CSV saved with a UTF-8 byte order mark (Excel's "CSV UTF-8") imports like
// one without; the rest of the import behaves as before.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const root = process.env.REPO_ROOT;
const { importContacts } = require(path.join(root, 'src/import.js'));
const { makeHandler } = require(path.join(root, 'src/handler.js'));

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const CSV = 'email,name,company,opt_in\r\nAnn@Example.com,Ann Lee,Acme,yes\r\nbad,Bob,,no\r\n';

test('a file with a UTF-8 byte order mark imports', () => {
  const { imported, rejected } = importContacts(Buffer.concat([BOM, Buffer.from(CSV)]));
  assert.deepEqual(imported, [
    { email: 'ann@example.com', name: 'Ann Lee', company: 'Acme', optIn: true },
  ]);
  assert.deepEqual(rejected, [{ line: 3, problems: ['invalid email "bad"'] }]);
});

test('the same file without the mark gives the same result', () => {
  assert.deepEqual(
    importContacts(Buffer.from(CSV)),
    importContacts(Buffer.concat([BOM, Buffer.from(CSV)])),
  );
});

test('the handler imports an uploaded file with a byte order mark', async () => {
  const saved = [];
  const store = {
    read: async () => Buffer.concat([BOM, Buffer.from('email,name\nzoe@example.com,Zoë Müller\n')]),
    save: async (contacts) => saved.push(...contacts),
  };
  const event = {
    Records: [{ s3: { bucket: { name: 'acme-crm-imports' }, object: { key: 'incoming/list.csv' } } }],
  };
  const results = await makeHandler(store)(event);
  assert.equal(results[0].imported, 1);
  assert.deepEqual(saved.map((c) => c.name), ['Zoë Müller']);
});

test('a file holding only the mark has no contacts', () => {
  assert.deepEqual(importContacts(BOM), { imported: [], rejected: [] });
});
