// herd keygen: an ed25519 key pair for signing releases and channels. NAME.key is the private key (PKCS8
// PEM, mode 0600) for `herd publish --sign-key`; NAME.pub the public key (SPKI PEM). Prints the
// one-line public key agents put in trustedKeys. Never overwrites either file.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConflictError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { generateSigningKeyPair } from '../signing/keys.ts';
import { DEFAULT_KEY_NAME } from './defaults.ts';
import type { Output } from './output.ts';

export interface KeygenInput {
  /** Directory for the key files; created (mode 0700) when absent. */
  dir: string;
  /** File name stem: NAME.key and NAME.pub. */
  name?: string;
  out: Output;
  log: Logger;
}

export interface KeygenResult {
  private: string;
  public: string;
  trustedKey: string;
  keyId: string;
}

export { DEFAULT_KEY_NAME };
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export async function keygen(input: KeygenInput): Promise<KeygenResult> {
  const name = input.name ?? DEFAULT_KEY_NAME;
  if (!NAME.test(name) || name.startsWith('.')) throw new UsageError(`--name ${JSON.stringify(name)}: use 1-64 of [A-Za-z0-9._-], not starting with "."`);
  const dir = resolve(input.dir);
  const privateFile = join(dir, `${name}.key`);
  const publicFile = join(dir, `${name}.pub`);
  const pair = generateSigningKeyPair();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // 'wx' fails when the file exists, so an existing key is never replaced, even by a racing keygen.
  await writeNew(privateFile, pair.privatePem, 0o600);
  try {
    await writeNew(publicFile, pair.publicPem, 0o644);
  } catch (err) {
    // Without its public half the new private key is of no use; the existing .pub stays as it was.
    await rm(privateFile, { force: true });
    throw err;
  }
  input.log.info({ keyId: pair.keyId, privateFile, publicFile }, 'wrote a signing key pair');
  input.out.info(`wrote ${privateFile} (private: keep it secret, sign with herd publish --sign-key ${privateFile})`);
  input.out.info(`wrote ${publicFile}`);
  input.out.info(`key id ${pair.keyId}; agents that should follow only releases and channels signed by it list this line in trustedKeys:`);
  return { private: privateFile, public: publicFile, trustedKey: pair.trustedKey, keyId: pair.keyId };
}

async function writeNew(file: string, text: string, mode: number): Promise<void> {
  try {
    await writeFile(file, text, { flag: 'wx', mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ConflictError(`${file} exists; keygen never overwrites a key (choose another --name or --out)`);
    }
    throw err;
  }
}
