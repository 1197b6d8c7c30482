// lib-storage's multipart Upload as an ES module of its own: see sdk-s3-commands.ts.
export { Upload } from '@aws-sdk/lib-storage';
