// herd publish-agent: put the herd executable (dist/herd) in the store where the user-data
// `herd user-data` prints expects it: agent/sha256/<hex>, content-addressed and uploaded only
// when absent, then agent/linux-x64.json, the small pointer `herd user-data` pins by default.
// Prints the sha256, which the user-data checks before it runs anything.
import { open } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { ConfigError, ConflictError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { hashFile } from '../bundle/pack.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { describeSource } from '../store/layout.ts';
import { AGENT_SCHEMA, type AgentPointer } from '../store/schemas.ts';
import { formatBytes, type Output } from './output.ts';

export interface PublishAgentInput {
  store: ObjectStore;
  /** The executable: dist/herd from `npm run build`. */
  file: string;
  actor: string;
  out: Output;
  log: Logger;
  now?: Date;
  /** How the executable's version is learnt; default: run it with --version (on Linux x64 only). */
  readVersion?: (file: string) => Promise<string | null>;
}

export interface PublishAgentResult {
  sha256: string;
  key: string;
  size: number;
  version: string | null;
  uploaded: boolean;
  pointer: AgentPointer;
}

export async function publishAgent(input: PublishAgentInput): Promise<PublishAgentResult> {
  await checkLinuxX64Executable(input.file);
  const { digest, size } = await hashFile(input.file);
  const version = await (input.readVersion ?? versionOf)(input.file);
  const key = input.store.layout.agentExecutable(digest);
  const where = `${describeSource(input.store.source)}: ${key}`;

  const stored = await input.store.headAgentExecutable(digest);
  if (stored !== null && stored !== size) {
    throw new ConflictError(`${where} exists with another size (${stored}, expected ${size}); the store is inconsistent`);
  }
  if (stored === null) {
    input.out.info(`uploading ${input.file} (${formatBytes(size)}) to ${where}`);
    const progress = input.out.progress('uploading herd', size);
    await input.store.putAgentExecutable({ digest, file: input.file, size, onProgress: progress });
    progress(size);
  } else {
    input.out.info(`${where} is already there`);
  }
  const pointer: AgentPointer = {
    schema: AGENT_SCHEMA, platform: 'linux-x64', digest, size, version,
    publishedAt: (input.now ?? new Date()).toISOString(), publishedBy: input.actor,
  };
  await input.store.putAgentPointer(pointer);
  input.log.info({ digest, size, version, uploaded: stored === null }, 'published the herd executable');
  return { sha256: digest.slice('sha256:'.length), key, size, version, uploaded: stored === null, pointer };
}

/** ConfigError unless `file` is a 64-bit little-endian x86-64 ELF: what the user-data installs. */
export async function checkLinuxX64Executable(file: string): Promise<void> {
  let header: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      header = Buffer.alloc(20);
      await handle.read(header, 0, 20, 0);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new ConfigError(`--file ${file}: cannot read (${(err as Error).message})`, { cause: err });
  }
  const elf = header.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  if (!elf || header[4] !== 2 || header[5] !== 1 || header.readUInt16LE(18) !== 0x3e) {
    throw new ConfigError(`--file ${file}: not a Linux x86-64 executable; publish the single executable dist/herd that npm run build writes, not dist/herd.mjs`);
  }
}

/** `file --version`, when this machine can run it and it answers like herd; null otherwise. */
async function versionOf(file: string): Promise<string | null> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return null;
  const answer = await new Promise<string | null>((resolve) => {
    execFile(file, ['--version'], { timeout: 10_000, env: {}, encoding: 'utf8' }, (err, stdout) => resolve(err ? null : stdout));
  });
  const line = answer?.trim() ?? '';
  return /^[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+-]*$/.test(line) ? line : null;
}
