'use strict';

const bytes = require('bytes');

const MAX_INPUT_SIZE = process.env.MAX_INPUT_SIZE || '1.5GB';

class InputTooLargeError extends Error {
  constructor(key, size, limit) {
    super(`s3://${key} is ${size} bytes, over MAX_INPUT_SIZE=${MAX_INPUT_SIZE} (${limit} bytes): not transcoded`);
    this.name = 'InputTooLargeError';
  }
}

function checkSize(record) {
  const limit = bytes.parse(MAX_INPUT_SIZE);
  const { size, key } = record.s3.object;
  if (size > limit) {
    throw new InputTooLargeError(`${record.s3.bucket.name}/${key}`, size, limit);
  }
}

exports.handler = async (event) => {
  const jobs = [];
  for (const record of event.Records) {
    checkSize(record);
    jobs.push({ input: `s3://${record.s3.bucket.name}/${record.s3.object.key}`, preset: '1080p' });
  }
  return { submitted: jobs.length };
};
