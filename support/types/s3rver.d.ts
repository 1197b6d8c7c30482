// s3rver ships no types; support/local-s3.ts uses only its constructor, run() and close().
declare module 's3rver' {
  const S3rver: new (options: object) => unknown;
  export default S3rver;
}
