'use strict';

/**
 * Parse CSV text (RFC 4180: quoted fields, "" inside quotes, CRLF or LF line ends) into
 * records keyed by the header row. Blank lines are skipped.
 */
function parseCsv(text) {
  const rows = parseRows(text);
  if (rows.length === 0) {
    return [];
  }
  const header = rows[0];
  return rows.slice(1).map((cells) => {
    const record = {};
    header.forEach((name, i) => {
      record[name] = cells[i] === undefined ? '' : cells[i];
    });
    return record;
  });
}

function parseRows(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') {
        i += 1;
      }
      row.push(field);
      if (row.length > 1 || row[0] !== '') {
        rows.push(row);
      }
      row = [];
      field = '';
    } else {
      field += ch;
    }
  }
  row.push(field);
  if (row.length > 1 || row[0] !== '') {
    rows.push(row);
  }
  return rows;
}

module.exports = { parseCsv };
