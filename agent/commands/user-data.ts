// herd user-data: the cloud-init user-data that installs herd at first boot on an image that
// was not baked with it (docs/image.md). It is ami/user-data.yaml filled in: the agent's
// config, the unit, the install script, and the URL and sha256 of the executable
// `herd publish-agent` put in the store. Rendering is pure; only finding the pinned
// executable (agent/linux-x64.json) reads the store, and only without --sha256.
import { readFile } from 'node:fs/promises';
import * as z from '../zod.ts';
import { buildConfig, isHttpSource, type SourceConfig } from '../config.ts';
import { ConfigError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseFlag } from '../flags.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { describeSource, hexOf, layoutFor } from '../store/layout.ts';
import { parseJson } from '../validate.ts';
import type { ImageFiles } from './image-files.ts';
import type { Output } from './output.ts';

/** EC2 refuses user data over 16 KB. */
export const MAX_USER_DATA_BYTES = 16 * 1024;
const DEFAULT_REGION = 'us-east-1';
export const sha256Schema = z.pipe(z.string().check(z.regex(/^[0-9a-fA-F]{64}$/)), z.transform((s: string) => s.toLowerCase()));

export interface RenderUserDataInput {
  files: ImageFiles;
  /** Where the executable is (and, by default, what the agent reads). */
  source: SourceConfig;
  /** sha256:<hex> of the executable. */
  digest: string;
  /** Its version, when known: only for the summary line. */
  version: string | null;
  /** The agent's config as written to /etc/herd/agent.json; default: `source` as its only source. */
  agentConfig?: Record<string, unknown>;
}

export interface UserData {
  text: string;
  url: string;
  region: string;
  sha256: string;
  bytes: number;
}

/** Pure: the filled-in template; ConfigError when the result would be over EC2's limit or the config is invalid. */
export function renderUserData(input: RenderUserDataInput): UserData {
  const region = input.source.region ?? DEFAULT_REGION;
  const sha256 = hexOf(input.digest);
  const key = layoutFor(input.source.prefix).agentExecutable(input.digest);
  const url = objectUrl(input.source, key);
  const agentConfig = input.agentConfig ?? { sources: [agentSource(input.source, region)] };
  const appUser = buildConfig(agentConfig, 'agent config').appUser ?? '';
  const blocks: Record<string, string> = {
    AGENT_JSON: `${JSON.stringify(agentConfig, null, 2)}\n`,
    UNIT: withoutComments(input.files.unit, '# packaging/herd-agent.service, comments removed (EC2 user data holds 16 KB): see docs/image.md'),
    INSTALL_SCRIPT: withoutComments(input.files.installScript, '# ami/install-agent.py, comments removed (EC2 user data holds 16 KB)'),
  };
  const scalars: Record<string, string> = {
    URL: JSON.stringify(url),
    REGION: JSON.stringify(region),
    SHA256: JSON.stringify(sha256),
    APP_USER: JSON.stringify(appUser),
    SUMMARY: `herd ${input.version ?? '(version unknown)'}, sha256 ${sha256}, from ${describeSource(input.source)}.`,
  };
  const text = fillTemplate(input.files.userData, blocks, scalars);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_USER_DATA_BYTES) {
    throw new ConfigError(`the user-data would be ${bytes} bytes, over EC2's ${MAX_USER_DATA_BYTES}-byte limit for user data; use a smaller agent config`);
  }
  return { text, url, region, sha256, bytes };
}

/**
 * Pure: `__NAME__` alone on a line becomes the block `NAME`, every line indented as the
 * placeholder was (a YAML literal block); `__NAME__` elsewhere becomes the scalar `NAME`.
 */
export function fillTemplate(template: string, blocks: Record<string, string>, scalars: Record<string, string>): string {
  const lines = template.split('\n').map((line) => {
    const block = /^(\s*)__([A-Z0-9_]+)__$/.exec(line);
    const text = block ? blocks[block[2] as string] : undefined;
    if (!block || text === undefined) return line;
    return text.replace(/\n$/, '').split('\n').map((l) => (l ? `${block[1]}${l}` : '')).join('\n');
  });
  return lines.join('\n').replace(/__([A-Z0-9_]+)__/g, (whole, name: string) => {
    const value = scalars[name];
    if (value === undefined) throw new Error(`user-data template: no value for ${whole}`);
    return value;
  });
}

/** Pure: the text without its full-line comments and runs of blank lines, a `#!` line kept, `header` after it. */
export function withoutComments(text: string, header: string): string {
  const lines = text.split('\n');
  const shebang = lines[0]?.startsWith('#!') ? [lines.shift() as string] : [];
  const kept: string[] = [];
  for (const line of lines) {
    if (/^\s*#/.test(line)) continue;
    if (line.trim() === '' && (kept.length === 0 || kept[kept.length - 1] === '')) continue;
    kept.push(line);
  }
  return [...shebang, header, ...kept].join('\n').replace(/\n*$/, '\n');
}

/** Pure: the object's URL, for a GET signed with SigV4: AWS S3's virtual-hosted form, path style
 *  for a bucket with dots (its TLS certificate covers one label) or a custom endpoint. */
export function objectUrl(source: SourceConfig, key: string): string {
  const path = key.split('/').map(encodeURIComponent).join('/');
  if (source.endpoint) {
    const base = new URL(source.endpoint);
    if (source.forcePathStyle === false) return `${base.protocol}//${source.bucket}.${base.host}/${path}`;
    return `${base.origin}${base.pathname.replace(/\/+$/, '')}/${source.bucket}/${path}`;
  }
  const region = source.region ?? DEFAULT_REGION;
  const domain = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  if (source.bucket.includes('.') || source.forcePathStyle) return `https://s3.${region}.${domain}/${source.bucket}/${path}`;
  return `https://${source.bucket}.s3.${region}.${domain}/${path}`;
}

function agentSource(source: SourceConfig, region: string): Record<string, unknown> {
  return {
    bucket: source.bucket, prefix: source.prefix, region,
    ...(source.endpoint ? { endpoint: source.endpoint } : {}),
    ...(source.forcePathStyle !== undefined ? { forcePathStyle: source.forcePathStyle } : {}),
  };
}

export interface UserDataInput {
  store: ObjectStore;
  files: ImageFiles;
  /** Pin this executable (64 hex digits) instead of the one agent/linux-x64.json names; the store is not read. */
  sha256?: string;
  /** A JSON file to install as /etc/herd/agent.json instead of the default one-source config. */
  agentConfigFile?: string;
  out: Output;
  log: Logger;
}

export async function userData(input: UserDataInput): Promise<UserData & { version: string | null }> {
  const agentConfig = input.agentConfigFile !== undefined ? await readAgentConfig(input.agentConfigFile) : undefined;
  let digest: string;
  let version: string | null = null;
  if (input.sha256 !== undefined) {
    digest = `sha256:${parseFlag('sha256', sha256Schema, input.sha256)}`;
  } else {
    const pointer = await input.store.getAgentPointer();
    ({ digest, version } = pointer);
    input.out.info(`pinning herd ${version ?? '(version unknown)'} (${digest}), published ${pointer.publishedAt} by ${pointer.publishedBy}`);
  }
  const source = input.store.source;
  if (isHttpSource(source)) throw new UsageError(`herd user-data needs a bucket source, not ${source.url}`);
  const result = renderUserData({
    files: input.files, source, digest, version, ...(agentConfig ? { agentConfig } : {}),
  });
  input.log.debug({ url: result.url, bytes: result.bytes }, 'rendered user-data');
  return { ...result, version };
}

async function readAgentConfig(file: string): Promise<Record<string, unknown>> {
  const text = await readFile(file, 'utf8').catch((err) => { throw new ConfigError(`--agent-config ${file}: cannot read (${(err as Error).message})`, { cause: err }); });
  const raw = parseJson(text, file, (m, cause) => new ConfigError(m, { cause }));
  buildConfig(raw, file); // refuse here what every agent would refuse at start
  return raw as Record<string, unknown>;
}
