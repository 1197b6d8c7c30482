// The role tag through the EC2 API, for instances whose metadata tags are off. Needs
// ec2:DescribeTags in the instance profile. One DescribeTags request of the EC2 Query API,
// signed (SigV4, service ec2) with the default chain's credentials (store/credentials.ts):
// the SDK's EC2 client, which did this before, is 1.6 MB of the bundle's source and stayed
// in the agent's memory once loaded. An EC2Client given by a caller (tests) is used instead when present.
import type { EC2Client } from '@aws-sdk/client-ec2';
import { IdentityError, describeError } from '../errors.ts';
import { http, https } from '../http-modules.ts';
import type { Logger } from '../log.ts';
import { defaultCredentials, type CredentialSource } from '../store/credentials.ts';
import { dnsSuffix } from '../store/s3-endpoint.ts';
import { sha256Hex, signRequest } from '../store/sigv4.ts';

export interface ReadRoleTagViaApiInput {
  /** An SDK client to ask through; none: the agent's own request. */
  ec2?: EC2Client;
  region: string;
  instanceId: string;
  tagKey: string;
  log: Logger;
  /** Default: the default chain's (store/credentials.ts). */
  credentials?: CredentialSource;
  /** AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL, AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT, read as the SDK reads them. */
  env?: Readonly<Record<string, string | undefined>>;
}

interface Tag { ResourceId?: string | undefined; Key?: string | undefined; Value?: string | undefined }

const API_VERSION = '2016-11-15';
const TIMEOUT_MS = 10_000;
const ATTEMPTS = 3;

/** The value of tag `tagKey` on `instanceId`, or null when the instance has no such tag. */
export async function readRoleTagViaApi(input: ReadRoleTagViaApiInput): Promise<string | null> {
  const { instanceId, tagKey } = input;
  let tags: Tag[];
  try {
    tags = input.ec2 ? await describeWithSdk(input.ec2, instanceId, tagKey) : await describeTags(input);
  } catch (err) {
    throw new IdentityError(
      `DescribeTags for ${instanceId} failed (${describeError(err)}); ` +
        'the instance profile needs ec2:DescribeTags, or turn on instance metadata tags',
      { cause: err },
    );
  }
  // The key filter takes '*' and '?' as wildcards: keep only the exact key on this instance.
  const tag = tags.find((t) => t.Key === tagKey && (t.ResourceId === undefined || t.ResourceId === instanceId));
  return tag?.Value ?? null;
}

async function describeWithSdk(ec2: EC2Client, instanceId: string, tagKey: string): Promise<Tag[]> {
  const { DescribeTagsCommand } = await import('@aws-sdk/client-ec2');
  const out = await ec2.send(new DescribeTagsCommand({
    Filters: [{ Name: 'resource-id', Values: [instanceId] }, { Name: 'key', Values: [tagKey] }],
  }));
  return out.Tags ?? [];
}

/** Where EC2 API requests go, as the SDK resolves it: a configured endpoint, else ec2[-fips].<region>.<partition's suffix>. */
export function ec2Endpoint(region: string, env: Readonly<Record<string, string | undefined>>): URL {
  const configured = env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true' ? undefined : env.AWS_ENDPOINT_URL_EC2 || env.AWS_ENDPOINT_URL;
  if (configured) return new URL(configured);
  const service = env.AWS_USE_FIPS_ENDPOINT === 'true' ? 'ec2-fips' : 'ec2';
  const host = env.AWS_USE_DUALSTACK_ENDPOINT === 'true' ? `${service}.${region}.api.aws` : `${service}.${region}.${dnsSuffix(region)}`;
  return new URL(`https://${host}/`);
}

/** DescribeTags as the Query API takes it: a signed form POST; retried like the SDK's client (3 attempts) on network errors, 5xx and throttling. */
async function describeTags(input: ReadRoleTagViaApiInput): Promise<Tag[]> {
  const env = input.env ?? process.env;
  const url = ec2Endpoint(input.region, env);
  const credentials = input.credentials ?? defaultCredentials({ region: input.region, log: input.log, env });
  const body = new URLSearchParams({
    Action: 'DescribeTags', Version: API_VERSION,
    'Filter.1.Name': 'resource-id', 'Filter.1.Value.1': input.instanceId,
    'Filter.2.Name': 'key', 'Filter.2.Value.1': input.tagKey,
  }).toString();
  for (let attempt = 1; ; attempt++) {
    try {
      const headers = signRequest({
        method: 'POST', host: url.host, path: url.pathname || '/', region: input.region, service: 'ec2',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) },
        payloadHash: sha256Hex(body), credentials: await credentials(), now: new Date(),
      });
      const res = await exchange(url, headers, body);
      if (res.status === 200) return parseTags(res.text);
      throw queryError(res.status, res.text);
    } catch (err) {
      if (attempt >= ATTEMPTS || !transient(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 100 * 2 ** attempt));
    }
  }
}

function exchange(url: URL, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'http:' ? http : https).request({
      protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || undefined,
      path: url.pathname || '/', method: 'POST', headers: { ...headers, 'user-agent': 'herd' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`no answer from ${url.host} within ${TIMEOUT_MS / 1000}s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The tags of a DescribeTagsResponse: <tagSet><item><resourceId/><key/><value/></item>...</tagSet>. */
export function parseTags(xml: string): Tag[] {
  return [...xml.matchAll(/<item>([\s\S]*?)<\/item>/g)].map(([, item]) => ({
    ResourceId: field(item as string, 'resourceId'), Key: field(item as string, 'key'), Value: field(item as string, 'value') ?? '',
  }));
}

function field(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml) ?? (new RegExp(`<${name}\\s*/>`).test(xml) ? [, ''] : null);
  return m ? unescapeXml(m[1] as string) : undefined;
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
    e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'amp' ? '&' : e === 'quot' ? '"' : e === 'apos' ? "'"
      : String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)));
}

/** An EC2 error answer: <Response><Errors><Error><Code/><Message/></Error></Errors>, named by its code like the SDK's. */
function queryError(status: number, xml: string): Error {
  const code = /<Code>([^<]+)<\/Code>/.exec(xml)?.[1] ?? `Http${status}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(xml)?.[1];
  return Object.assign(new Error(message ? unescapeXml(message) : `HTTP ${status}`), { name: code, $metadata: { httpStatusCode: status } });
}

const THROTTLING = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'EC2ThrottledException', 'RequestThrottled']);

function transient(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429 || THROTTLING.has((err as Error).name);
  return (err as Error).name !== 'CredentialsProviderError'; // else no answer: the network or a timeout
}
