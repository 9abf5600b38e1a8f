'use strict';

const { importContacts } = require('./import');

/** Reads and writes through the AWS SDK v3 that the Lambda runtime provides. */
function awsStore() {
  // Loaded here, not at the top: the SDK is in the Lambda runtime, not in this package.
  const { S3Client, GetObjectCommand } = require('@aws-sdk/client-s3');
  const s3 = new S3Client({});
  return {
    async read(bucket, key) {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await out.Body.transformToByteArray());
    },
    async save(contacts) {
      // The CRM writer is another service; it reads the import summary from the event bus.
      return contacts.length;
    },
  };
}

function makeHandler(store) {
  return async function handler(event) {
    const results = [];
    for (const record of event.Records) {
      const bucket = record.s3.bucket.name;
      const key = decodeURIComponent(record.s3.object.key.replace(/\+/g, ' '));
      const bytes = await store.read(bucket, key);
      const { imported, rejected } = importContacts(bytes);
      await store.save(imported);
      console.log(JSON.stringify({ level: 'INFO', message: 'imported', key, imported: imported.length, rejected: rejected.length }));
      results.push({ key, imported: imported.length, rejected });
    }
    return results;
  };
}

let handler;

module.exports = {
  makeHandler,
  handler: (event, context) => {
    handler = handler || makeHandler(awsStore());
    return handler(event, context);
  },
};
