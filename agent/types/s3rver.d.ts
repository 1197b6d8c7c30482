// s3rver ships no types; herd uses only its constructor, run() and close().
declare module 's3rver' {
  const S3rver: new (options: object) => unknown;
  export default S3rver;
}
