// The SDK's default credential chain as an ES module of its own: see sdk-s3-commands.ts.
export { defaultProvider } from '@aws-sdk/credential-provider-node';
