// The S3 client's commands sdkTransport sends, as an ES module of their own. Imported
// dynamically from the split bundle, the SDK's CommonJS module itself would arrive with its
// exports under `default` only (esbuild); re-exported by name here, they arrive as named.
export { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
