// Credentials for the agent's own AWS requests (S3, and DescribeTags), in the order of the
// AWS SDK's default chain: environment, shared config/credentials files and profile,
// credential_process, SSO, web identity token file, ECS container, EC2 instance profile.
// The SDK's chain (and the parts of @smithy/core it initialises) costs about 1 MB resident
// in the agent once loaded (its source is in the bundle either way), and on an instance it
// would find nothing but the obvious, so it is loaded only when one of its middle links
// could answer: keys in the environment are used as its fromEnv uses them, and with nothing
// else there the instance profile is read with the agent's own metadata client
// (instance-profile.ts).
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, sep } from 'node:path';
import { ImdsClient } from '../identity/imds-client.ts';
import type { Logger } from '../log.ts';
import { instanceProfileCredentials } from './instance-profile.ts';
import type { Credentials } from './sigv4.ts';

export type CredentialSource = () => Promise<Credentials>;
type Env = Readonly<Record<string, string | undefined>>;

/** Where the SDK's IMDS client goes by AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE (IPv4 when unset). */
const METADATA_ENDPOINTS: Record<string, string> = { IPv4: 'http://169.254.169.254', IPv6: 'http://[fd00:ec2::254]' };

/**
 * Variables that one of the chain's links between the environment and the instance profile
 * reads (shared files, web identity, ECS), or that change what its instance-profile link
 * does (disabled): with any of them set, the SDK's chain decides.
 */
const CHAIN_VARIABLES = [
  'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI',
];

export type CredentialChoice =
  | { provider: 'environment'; credentials: Credentials }
  | { provider: 'sdk-chain'; because: string }
  | { provider: 'instance-profile'; metadataEndpoint: string };

export interface CredentialChoiceInput {
  env: Env;
  /** Whether a file exists (the shared config and credentials files). */
  exists: (path: string) => boolean;
  /** os.homedir(), the SDK's last resort for the home directory. */
  osHomeDir: string;
}

/** Pure: which provider answers, as the SDK's default chain would get there. */
export function chooseCredentials(input: CredentialChoiceInput): CredentialChoice {
  const { env } = input;
  // The SDK skips its environment link when AWS_PROFILE is set, keys or not.
  if (env.AWS_PROFILE) return { provider: 'sdk-chain', because: 'AWS_PROFILE is set' };
  const fromEnv = environmentCredentials(env);
  if (fromEnv) return { provider: 'environment', credentials: fromEnv };
  const variable = CHAIN_VARIABLES.find((name) => env[name]);
  if (variable) return { provider: 'sdk-chain', because: `${variable} is set` };
  if (env.AWS_EC2_METADATA_DISABLED && env.AWS_EC2_METADATA_DISABLED !== 'false') {
    return { provider: 'sdk-chain', because: 'AWS_EC2_METADATA_DISABLED is set' };
  }
  const home = sdkHomeDir(env, input.osHomeDir);
  const file = [join(home, '.aws', 'config'), join(home, '.aws', 'credentials')].find((path) => input.exists(path));
  if (file) return { provider: 'sdk-chain', because: `${file} exists` };
  const mode = env.AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE || 'IPv4';
  const byMode = METADATA_ENDPOINTS[mode];
  if (!env.AWS_EC2_METADATA_SERVICE_ENDPOINT && !byMode) {
    // Let the SDK name the mistake as it does for every other client on the machine.
    return { provider: 'sdk-chain', because: `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE is ${JSON.stringify(mode)}` };
  }
  return { provider: 'instance-profile', metadataEndpoint: env.AWS_EC2_METADATA_SERVICE_ENDPOINT || (byMode as string) };
}

/** The SDK's fromEnv: both keys, and the session token when there is one. */
function environmentCredentials(env: Env): Credentials | null {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  if (!accessKeyId || !secretAccessKey) return null;
  // AWS_CREDENTIAL_EXPIRATION changes nothing here: past it, the SDK reads the same variables again.
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** The home directory the SDK looks for ~/.aws in: HOME, USERPROFILE, HOMEDRIVE+HOMEPATH, then the OS's. */
function sdkHomeDir(env: Env, osHomeDir: string): string {
  return env.HOME || env.USERPROFILE || (env.HOMEPATH ? `${env.HOMEDRIVE ?? `C:${sep}`}${env.HOMEPATH}` : osHomeDir);
}

export interface DefaultCredentialsInput {
  /** For the clients the SDK's chain may make itself (STS for web identity or a role, SSO). */
  region: string;
  log: Logger;
  /** The environment the chain reads (default process.env, as the SDK reads it). */
  env?: Env;
}

/** The default chain's credentials, memoized and refreshed ahead of expiry by whichever provider answers. */
export function defaultCredentials(input: DefaultCredentialsInput): CredentialSource {
  const env = input.env ?? process.env;
  const choice = chooseCredentials({ env, exists: existsSync, osHomeDir: homedir() });
  const log = input.log.child({ module: 'credentials' });
  log.debug({ provider: choice.provider, ...(choice.provider === 'sdk-chain' ? { because: choice.because } : {}) }, 'credential provider chosen');
  if (choice.provider === 'environment') return fixedCredentials(choice.credentials);
  if (choice.provider === 'instance-profile') {
    return instanceProfileCredentials({ imds: new ImdsClient({ log: input.log, endpoint: choice.metadataEndpoint }), log });
  }
  return sdkChain(input.region);
}

/** The SDK's default chain, imported on first use; it memoizes and refreshes by itself. */
function sdkChain(region: string): CredentialSource {
  const regionOf = () => Promise.resolve(region);
  let chain: Promise<(options: never) => Promise<Credentials>> | undefined;
  return async () => {
    chain ??= import('./sdk-credential-chain.ts')
      .then(({ defaultProvider }) => defaultProvider({ parentClientConfig: { region: regionOf } }) as (options: never) => Promise<Credentials>);
    return (await chain)({ callerClientConfig: { region: regionOf } } as never);
  };
}

export function fixedCredentials(credentials: Credentials): CredentialSource {
  return () => Promise.resolve(credentials);
}
