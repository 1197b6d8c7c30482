// The EC2 instance profile's credentials, read over IMDSv2 with the agent's own metadata
// client: the role's name from meta-data/iam/security-credentials/, then its JSON document.
// What is kept of the SDK (@smithy/credential-provider-imds's fromInstanceMetadata, inside
// the default chain's memoization):
// - refreshed once less than 5 minutes remain: in the background while the held ones still
//   serve, awaited once they have expired; one refresh at a time, shared by every caller;
// - static stability: a refresh that fails while credentials are held, or that is answered
//   with credentials already expired, keeps the held ones (with a warning) and tries again
//   within 0-5 minutes (the SDK pushes their expiry 5-10 minutes out, minus its 5-minute
//   margin), so an IMDS outage does not stop an instance that is serving from polling.
// Not kept: the SDK's IMDSv1 fallback (herd never sends a v1 request) and its single 1 s
// attempt per request (the metadata client's own timeout and retries apply).
import { StoreError, describeError } from '../errors.ts';
import type { ImdsClient } from '../identity/imds-client.ts';
import type { Logger } from '../log.ts';
import type { Credentials } from './sigv4.ts';

const CREDENTIALS_PATH = 'meta-data/iam/security-credentials/';
/** Refresh this long before expiry (the SDK's default chain: 5 minutes). */
export const REFRESH_MARGIN_MS = 5 * 60_000;
/** After a failed refresh the held credentials count as valid this long, plus up to as much again at random (the SDK's). */
export const STABILITY_EXTENSION_MS = 5 * 60_000;
/** IAM role names: up to 64 of these characters. */
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

export interface HeldCredentials {
  credentials: Credentials;
  /** When they count as expired (the document's Expiration, or later after a failed refresh). */
  expiresAt: number;
}

export type CredentialStep = 'use' | 'use-and-refresh' | 'fetch';

/** Pure: what a request for credentials does with what is held at `now`. */
export function credentialStep(held: HeldCredentials | null, now: number): CredentialStep {
  if (!held || now >= held.expiresAt) return 'fetch';
  return held.expiresAt - now <= REFRESH_MARGIN_MS ? 'use-and-refresh' : 'use';
}

/** Pure: the held credentials' new expiry after a refresh that failed, `random` in [0, 1). */
export function extendedExpiry(now: number, random: number): number {
  return now + STABILITY_EXTENSION_MS + Math.floor(random * STABILITY_EXTENSION_MS);
}

export interface InstanceProfileInput {
  imds: ImdsClient;
  log: Logger;
  /** Clock and jitter, for tests. */
  now?: () => number;
  random?: () => number;
}

export function instanceProfileCredentials(input: InstanceProfileInput): () => Promise<Credentials> {
  const provider = new InstanceProfile(input);
  return () => provider.get();
}

class InstanceProfile {
  private readonly imds: ImdsClient;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private held: HeldCredentials | null = null;
  private refreshing: Promise<HeldCredentials> | null = null;

  constructor(input: InstanceProfileInput) {
    this.imds = input.imds;
    this.log = input.log;
    this.now = input.now ?? Date.now;
    this.random = input.random ?? Math.random;
  }

  async get(): Promise<Credentials> {
    const step = credentialStep(this.held, this.now());
    if (step === 'fetch') return (await this.refresh()).credentials;
    // With credentials held a refresh never rejects: it keeps them.
    if (step === 'use-and-refresh') void this.refresh().catch(() => {});
    return (this.held as HeldCredentials).credentials;
  }

  private refresh(): Promise<HeldCredentials> {
    this.refreshing ??= this.fetch().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async fetch(): Promise<HeldCredentials> {
    let fresh: HeldCredentials;
    try {
      fresh = await readInstanceProfile(this.imds);
    } catch (err) {
      if (!this.held) throw err;
      return this.keep(this.held, `could not be refreshed (${describeError(err)})`);
    }
    if (fresh.expiresAt <= this.now()) return this.keep(fresh, `came from the metadata service already expired (${new Date(fresh.expiresAt).toISOString()})`);
    this.held = fresh;
    this.log.debug({ expiresAt: new Date(fresh.expiresAt).toISOString() }, 'instance-profile credentials fetched');
    return fresh;
  }

  /** Static stability: go on with `held` a little longer, and say so (never the credentials themselves). */
  private keep(held: HeldCredentials, why: string): HeldCredentials {
    const expiresAt = extendedExpiry(this.now(), this.random());
    this.held = { credentials: held.credentials, expiresAt };
    this.log.warn({ retryAfter: new Date(expiresAt - REFRESH_MARGIN_MS).toISOString() },
      `instance-profile credentials ${why}; going on with the ones held and trying again later`);
    return this.held;
  }
}

/** The role's current credentials: StoreError naming what to fix when the instance has none. */
async function readInstanceProfile(imds: ImdsClient): Promise<HeldCredentials> {
  let role: string | null;
  try {
    role = await imds.getOrNull(CREDENTIALS_PATH);
  } catch (err) {
    throw new StoreError(`no AWS credentials: none in the environment or shared config files, and the instance profile could not be read (${describeError(err)})`, { cause: err });
  }
  if (role === null || !role.trim()) {
    throw new StoreError(`no AWS credentials: none in the environment or shared config files, and the instance has no instance profile (metadata service at ${imds.endpoint}); attach an IAM role to the instance`);
  }
  role = role.trim().split('\n')[0]?.trim() ?? '';
  if (!ROLE_NAME.test(role)) throw new StoreError(`the metadata service named an instance profile role that is not an IAM role name: ${JSON.stringify(role.slice(0, 80))}`);
  let text: string;
  try {
    text = await imds.get(CREDENTIALS_PATH + role);
  } catch (err) {
    throw new StoreError(`cannot read the credentials of instance profile role ${role} (${describeError(err)})`, { cause: err });
  }
  return parseCredentialsDocument(text, role);
}

/** The metadata service's credentials document, checked as the SDK checks it (four strings), and a parseable Expiration. */
export function parseCredentialsDocument(text: string, role: string): HeldCredentials {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new StoreError(`the credentials document of instance profile role ${role} is not JSON`);
  }
  const d = (doc ?? {}) as Record<string, unknown>;
  const fields = ['AccessKeyId', 'SecretAccessKey', 'Token', 'Expiration'] as const;
  const missing = fields.filter((f) => typeof d[f] !== 'string' || !d[f]);
  if (missing.length) throw new StoreError(`the credentials document of instance profile role ${role} lacks ${missing.join(', ')}`);
  const expiresAt = Date.parse(d.Expiration as string);
  if (!Number.isFinite(expiresAt)) throw new StoreError(`the credentials document of instance profile role ${role} has an Expiration that is not a date`);
  return {
    credentials: { accessKeyId: d.AccessKeyId as string, secretAccessKey: d.SecretAccessKey as string, sessionToken: d.Token as string },
    expiresAt,
  };
}
