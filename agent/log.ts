// One pino root logger per process; modules take `log.child({module: ...})`.
// Credentials and tokens are redacted by path so a careless field never leaks one.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export interface LoggerInput {
  level?: string;
  /** Where JSON lines go: stdout for the agent (a daemon), stderr for CLI commands. */
  fd?: 1 | 2;
  destination?: DestinationStream;
}

const REDACT = [
  'token', '*.token', 'secretAccessKey', '*.secretAccessKey', 'sessionToken', '*.sessionToken',
  'credentials', '*.credentials', 'headers.authorization', '*.headers.authorization',
  'headers["x-aws-ec2-metadata-token"]', '*.headers["x-aws-ec2-metadata-token"]',
];

export function createLogger(input: LoggerInput = {}): Logger {
  const options = {
    level: input.level ?? 'info',
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  return pino(options, input.destination ?? pino.destination({ fd: input.fd ?? 1, sync: true }));
}

/** A logger that drops everything, for library callers and tests that don't care. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
