// The few error classes herd throws. Each carries a stable `code` and, where it wraps
// another failure, a `cause`. main.ts is the one place that turns them into exit codes.

export type ExitCode = 0 | 1 | 2;

export class HerdError extends Error {
  readonly code: string = 'HERD_ERROR';
  readonly exitCode: ExitCode = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flags or arguments: exit 2. */
export class UsageError extends HerdError {
  override readonly code: string = 'USAGE';
  override readonly exitCode: ExitCode = 2;
}

/** Agent config or a release's herd.json is missing or invalid: exit 2. */
export class ConfigError extends HerdError {
  override readonly code: string = 'CONFIG';
  override readonly exitCode: ExitCode = 2;
}

/** Who this instance is could not be learnt (IMDS, tags, DescribeTags). */
export class IdentityError extends HerdError {
  override readonly code: string = 'IDENTITY';
}

/** An Auto Scaling lifecycle call failed (finding the group, a heartbeat, completing a hook). */
export class LifecycleHookError extends HerdError {
  override readonly code: string = 'LIFECYCLE_HOOK';
}

/** The object store failed or answered something unexpected. */
export class StoreError extends HerdError {
  override readonly code: string = 'STORE';
}

/** An object the store should have does not exist. */
export class NotFoundError extends StoreError {
  override readonly code: string = 'NOT_FOUND';
}

/** Publishing would overwrite something that exists with other contents. */
export class ConflictError extends StoreError {
  override readonly code: string = 'CONFLICT';
}

/** Bytes or documents from the store failed verification (digest, size, schema, signature). */
export class IntegrityError extends HerdError {
  override readonly code: string = 'INTEGRITY';
}

/** An archive entry would escape its directory, is a special file, or exceeds the limits. */
export class UnsafeArchiveError extends IntegrityError {
  override readonly code: string = 'UNSAFE_ARCHIVE';
}

/** The app would not start, failed its health gate, or exited. */
export class AppFailedError extends HerdError {
  override readonly code: string = 'APP_FAILED';
}

/** A short, log-friendly description of any thrown value, with its causes. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.filter((p, i) => p && parts.indexOf(p) === i).join(': ');
}

export function exitCodeOf(err: unknown): ExitCode {
  return err instanceof HerdError ? err.exitCode : 1;
}

/** Prints why a command failed as `herd: ...` on stderr and returns its exit code. */
export function reportFailure(err: unknown): ExitCode {
  process.stderr.write(`herd: ${describeError(err)}\n`);
  return exitCodeOf(err);
}
