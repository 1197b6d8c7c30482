// Defaults the CLI shows in --help, apart from the commands that use them, so building the
// program loads none of the commands' code.

/**
 * Agents report on every change; one silent for longer than this is flagged STALE: three of
 * the agents' default report heartbeats (reportHeartbeatS, 30 min), so one missed write is not
 * yet stale. Kept here, not imported from config.ts, so --help loads nothing else.
 */
export const DEFAULT_STALE_AFTER_S = 5400;

/** File name stem of the key pair `herd keygen` writes. */
export const DEFAULT_KEY_NAME = 'herd-release';
