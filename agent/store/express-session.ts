// Sessions of an S3 Express One Zone directory bucket: CreateSession (`GET /?session`, signed
// for s3express with the instance's own credentials) answers credentials that last about 5
// minutes, with which every object request is signed (s3-http.ts). One session per bucket is
// cached, renewed a minute before it expires (as the SDK's S3ExpressIdentityProviderImpl does),
// and one renewal is shared by every request that needs it. A refused or expired session is
// dropped (forget) and the next request makes a fresh one.
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateSession.html
import { elements } from './list-objects.ts';
import type { Credentials } from './sigv4.ts';

export interface ExpressSession extends Credentials {
  sessionToken: string;
  /** Epoch ms. */
  expiresAt: number;
  /** Epoch ms, our clock, when the answer arrived. */
  obtainedAt: number;
}

/** The SDK's REFRESH_WINDOW_MS: renew this long before expiry. */
const RENEW_AHEAD_MS = 60_000;

/**
 * Pure: whether a session must be renewed before use at `now`. A minute early, or a fifth of
 * its life for a session shorter than 5 minutes (a stand-in's), so it is not renewed every time.
 */
export function needsRenewal(session: ExpressSession | undefined, now: number): boolean {
  if (!session) return true;
  const ahead = Math.min(RENEW_AHEAD_MS, (session.expiresAt - session.obtainedAt) / 5);
  return now >= session.expiresAt - ahead;
}

/** Pure: the credentials in CreateSession's XML answer; throws naming what is missing (never a value). */
export function parseCreateSession(xml: string, obtainedAt: number): ExpressSession {
  const field = (name: string) => elements(xml, name)[0];
  const accessKeyId = field('AccessKeyId');
  const secretAccessKey = field('SecretAccessKey');
  const sessionToken = field('SessionToken');
  const expiresAt = Date.parse(field('Expiration') ?? '');
  const missing = [
    ...(accessKeyId ? [] : ['AccessKeyId']), ...(secretAccessKey ? [] : ['SecretAccessKey']),
    ...(sessionToken ? [] : ['SessionToken']), ...(Number.isFinite(expiresAt) ? [] : ['Expiration']),
  ];
  if (missing.length > 0) throw new Error(`the CreateSession answer has no ${missing.join(', ')}`);
  return { accessKeyId: accessKeyId as string, secretAccessKey: secretAccessKey as string, sessionToken: sessionToken as string, expiresAt, obtainedAt };
}

export interface ExpressSessionsInput {
  /** One CreateSession request; resolves with the answer's XML, or throws. */
  createSession: () => Promise<string>;
  /** Epoch ms (tests pass a fake clock). */
  now?: () => number;
}

/** The cached session of one directory bucket. */
export class ExpressSessions {
  private session: ExpressSession | undefined;
  private renewal: Promise<ExpressSession> | undefined;
  private readonly createSession: () => Promise<string>;
  private readonly now: () => number;

  constructor(input: ExpressSessionsInput) {
    this.createSession = input.createSession;
    this.now = input.now ?? Date.now;
  }

  /** A session valid for at least a while: the cached one, or the renewal under way, or a new one. */
  current(): Promise<ExpressSession> {
    if (!needsRenewal(this.session, this.now())) return Promise.resolve(this.session as ExpressSession);
    this.renewal ??= this.createSession()
      .then((xml) => {
        this.session = parseCreateSession(xml, this.now());
        return this.session;
      })
      .finally(() => { this.renewal = undefined; });
    return this.renewal;
  }

  /** Drops `session` (refused or expired), unless a newer one has replaced it already. */
  forget(session: ExpressSession): void {
    if (this.session === session) this.session = undefined;
  }
}
