'use strict';

const { parseCsv } = require('./csv');
const { normaliseContact, problemsOf } = require('./contacts');

/**
 * Import one uploaded CSV file (the object's bytes): the contacts to write and the rows
 * rejected, with their line numbers (the header is line 1).
 */
function importContacts(bytes) {
  const text = Buffer.from(bytes).toString('utf8');
  const records = parseCsv(text);
  const imported = [];
  const rejected = [];
  records.forEach((record, index) => {
    const contact = normaliseContact(record);
    const problems = problemsOf(contact);
    if (problems.length > 0) {
      rejected.push({ line: index + 2, problems });
    } else {
      imported.push(contact);
    }
  });
  return { imported, rejected };
}

module.exports = { importContacts };
