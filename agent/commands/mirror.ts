// herd mirror: copies what agents read (blobs, manifests, signatures, channels) from one
// store to another. Each release is verified whole before any of it is written: its blobs
// are streamed through their sha256 into temp files, then uploaded, then its signature, then
// its manifest (byte for byte); the channel goes last, byte for byte, its signature (when
// signed) just before it. A pass killed anywhere leaves only complete objects, so the next
// pass finishes the job. Nothing is ever deleted, and only the channel is ever overwritten.
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createVerifier } from '../bundle/verify.ts';
import { ConflictError, IntegrityError, NotFoundError, UsageError, describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { TrustedKey } from '../signing/keys.ts';
import { checkSignature, verifySignature } from '../signing/signature.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { hexOf } from '../store/layout.ts';
import type { BlobRef } from '../store/schemas.ts';
import { decideChannel, planReleases, type ChannelStep, type Problem, type ReleaseState, type RoleResult } from './mirror-plan.ts';
import { formatBytes, type Output } from './output.ts';

export interface MirrorInput {
  from: ObjectStore;
  to: ObjectStore;
  /** Roles to copy; empty with `all` for every role under the source's roles/. */
  roles: readonly string[];
  all: boolean;
  /** When given, every release, and the channel, must carry a signature by one of these keys. */
  trustedKeys: readonly TrustedKey[];
  out: Output;
  log: Logger;
}

export interface MirrorResult {
  roles: RoleResult[];
  problems: Problem[];
}

/** One pass over every chosen role. Problems are returned, not thrown; everything that verifies is copied. */
export async function mirrorOnce(input: MirrorInput): Promise<MirrorResult> {
  if (!input.all && input.roles.length === 0) throw new UsageError('herd mirror needs --role ROLE (repeatable) or --all');
  const roles = input.all ? await input.from.listRoles() : [...input.roles];
  const work = await mkdtemp(join(tmpdir(), 'herd-mirror-'));
  try {
    const copied = new Set<string>();
    const results: RoleResult[] = [];
    for (const role of roles) results.push(await mirrorRole(input, role, work, copied));
    return { roles: results, problems: results.flatMap((r) => r.problems) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function mirrorRole(input: MirrorInput, role: string, work: string, copiedBlobs: Set<string>): Promise<RoleResult> {
  const { from, to, out } = input;
  const result: RoleResult = {
    role, releasesCopied: [], releasesPresent: 0, blobsCopied: 0, bytesCopied: 0, blobsSkipped: 0,
    channel: { action: 'skip', why: 'not reached' }, problems: [],
  };
  let plan;
  try {
    plan = planReleases(await from.listReleases(role), await to.listReleases(role));
  } catch (err) {
    result.channel = { action: 'skip', why: 'the releases could not be listed' };
    result.problems.push({ kind: 'failed', role, release: null, why: describeError(err) });
    out.info(`role ${role}: failed: ${describeError(err)}`);
    return result;
  }
  const states = new Map<string, ReleaseState>();
  for (const id of [...plan.copy, ...plan.check]) {
    try {
      const copied = await copyRelease(input, role, id, work, copiedBlobs, result);
      if (copied) {
        result.releasesCopied.push(id);
        out.info(`release ${role}/${id} copied`);
      } else {
        result.releasesPresent++;
      }
      states.set(id, 'ok');
    } catch (err) {
      const refused = err instanceof IntegrityError || err instanceof ConflictError;
      states.set(id, refused ? 'refused' : 'failed');
      result.problems.push({ kind: refused ? 'refused' : 'failed', role, release: id, why: describeError(err) });
      out.info(`release ${role}/${id}: ${refused ? 'refused' : 'failed'}: ${describeError(err)}`);
    }
  }
  try {
    const [src, dst] = await Promise.all([from.getChannel(role), to.getChannel(role)]);
    const source = src.kind === 'found' ? src.channel : null;
    const dest = dst.kind === 'found' ? dst.channel : null;
    const signature = src.kind === 'found' ? (await from.getChannelSignature(role))?.bytes ?? null : null;
    const unsigned = src.kind === 'found' ? checkChannelSignature(input, role, src.bytes, signature, src.channel.generation) : null;
    result.channel = unsigned ?? decideChannel(source, dest, states);
    if (result.channel.action === 'copy' && src.kind === 'found') {
      const etag = dst.kind === 'found' ? dst.etag : null;
      // As herd roll writes it: the signature first, so an agent that reads the new channel finds it.
      if (signature) await to.putChannelSignature(role, signature);
      await to.putChannelBytes(role, src.bytes, etag ? { ifMatch: etag } : { ifNoneMatch: true });
      out.info(`channel ${role} generation ${src.channel.generation} copied (release ${src.channel.release}${signature ? ', signed' : ''})`);
    } else if (result.channel.action === 'refuse') {
      result.problems.push({ kind: 'refused', role, release: null, why: result.channel.why });
      out.info(`channel ${role}: refused: ${result.channel.why}`);
    }
  } catch (err) {
    result.channel = { action: 'refuse', why: describeError(err) };
    result.problems.push({ kind: 'failed', role, release: null, why: describeError(err) });
  }
  return result;
}

/** With --trusted-key, a channel that is not signed by one of them is refused (null: fine, or nothing to check). */
function checkChannelSignature(input: MirrorInput, role: string, bytes: Buffer, signature: Buffer | null, generation: number): ChannelStep | null {
  if (input.trustedKeys.length === 0) return null;
  const check = checkSignature({ bytes, signature, trusted: input.trustedKeys, where: input.from.layout.channelSignature(role) });
  if (check.ok) return null;
  const why = check.problem === 'unsigned' ? 'it is not signed' : check.problem === 'unreadable' ? check.detail
    : check.problem === 'unknown-key' ? `it is signed by key ${check.keyId}, not by a --trusted-key` : `the signature by key ${check.keyId} does not match its bytes`;
  return { action: 'refuse', why: `generation ${generation}: ${why}` };
}

/**
 * Copies one release when the destination lacks it (true), or checks that the destination
 * holds the same manifest bytes (false). Throws IntegrityError / ConflictError to refuse it,
 * before anything of it is written.
 */
async function copyRelease(input: MirrorInput, role: string, id: string, work: string, copiedBlobs: Set<string>, result: RoleResult): Promise<boolean> {
  const { from, to } = input;
  const { manifest, bytes } = await from.getManifest(role, id);
  const signature = await from.getSignature(role, id);
  if (input.trustedKeys.length > 0) {
    verifySignature({ bytes, signature, trusted: input.trustedKeys, what: `release ${role}/${id}`, where: from.layout.signature(role, id) });
  }
  const there = await destManifest(to, role, id);
  if (there && !there.equals(bytes)) throw new ConflictError(`the destination has release ${role}/${id} with other bytes; it is never overwritten`);
  const theirSig = await to.getSignature(role, id);
  if (theirSig && (!signature || !theirSig.equals(signature))) {
    throw new ConflictError(`the destination has another signature for release ${role}/${id}; it is never overwritten`);
  }
  if (there) return false;

  // Verify every blob this release needs before writing any of it.
  const staged: Array<{ ref: BlobRef; file: string }> = [];
  for (const ref of [manifest.code, manifest.config]) {
    if (!ref || copiedBlobs.has(ref.digest) || staged.some((s) => s.ref.digest === ref.digest)) continue;
    if (await to.headBlob(ref.digest) !== null) {
      result.blobsSkipped++;
      copiedBlobs.add(ref.digest);
      continue;
    }
    const file = join(work, hexOf(ref.digest));
    try {
      const { body } = await from.getBlobStream(ref.digest);
      await pipeline(body, createVerifier({ expected: ref, maxBytes: ref.size }), createWriteStream(file));
    } catch (err) {
      // A refused release leaves nothing behind, not even in the temp directory.
      await Promise.all([file, ...staged.map((s) => s.file)].map((f) => rm(f, { force: true })));
      throw err;
    }
    staged.push({ ref, file });
  }
  for (const { ref, file } of staged) {
    await to.putBlobFromFile({ digest: ref.digest, file, size: ref.size });
    await rm(file, { force: true });
    copiedBlobs.add(ref.digest);
    result.blobsCopied++;
    result.bytesCopied += ref.size;
    input.out.info(`copied blob ${ref.digest} (${formatBytes(ref.size)})`);
  }
  // Signature before manifest, as publish does: a reader that sees the manifest finds it.
  if (signature && !theirSig) await to.putSignature(role, id, signature);
  try {
    await to.putManifest(manifest, bytes);
  } catch (err) {
    // Someone else wrote it meanwhile: fine when it is the same bytes.
    if (!(err instanceof ConflictError) || !(await destManifest(to, role, id))?.equals(bytes)) throw err;
  }
  return true;
}

/** The destination's manifest bytes, or null when it has none. */
async function destManifest(to: ObjectStore, role: string, id: string): Promise<Buffer | null> {
  try {
    return (await to.getManifest(role, id)).bytes;
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
}

/** `--watch`: a pass, then a pause of `intervalS`, until `signal` aborts; each pass prints what changed. */
export async function mirrorWatch(input: MirrorInput & { intervalS: number; signal: AbortSignal; onPass: (r: MirrorResult) => void }): Promise<void> {
  while (!input.signal.aborted) {
    try {
      input.onPass(await mirrorOnce(input));
    } catch (err) {
      if (err instanceof UsageError) throw err;
      input.out.info(`mirror pass failed: ${describeError(err)}`);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, input.intervalS * 1000);
      input.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }
}
