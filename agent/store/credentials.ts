// Credentials for the agent's own AWS requests (S3, and DescribeTags): the AWS SDK's default
// chain (env, shared files and profile, SSO, web identity, ECS, IMDSv2 instance profile),
// memoized and refreshed five minutes before expiry by the chain itself, as in the SDK's clients.
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Credentials } from './sigv4.ts';

export type CredentialSource = () => Promise<Credentials>;

/** The default chain, with `region` for the clients it may make itself (STS for web identity or a role, SSO). */
export function defaultCredentials(region: string): CredentialSource {
  const regionOf = () => Promise.resolve(region);
  const chain = defaultProvider({ parentClientConfig: { region: regionOf } });
  return () => chain({ callerClientConfig: { region: regionOf } } as never);
}

export function fixedCredentials(credentials: Credentials): CredentialSource {
  return () => Promise.resolve(credentials);
}
