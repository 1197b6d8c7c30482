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

/**
 * How long a signed channel stays valid unless --expires-in says otherwise: 7 days. A daily
 * `herd resign` job keeps it valid with six days to notice and fix a job that stopped (a long
 * weekend included), while a channel frozen by someone who can write the store (an old one
 * served for ever, so that a fix never arrives) is refused within a week.
 */
export const DEFAULT_CHANNEL_EXPIRES_IN_S = 7 * 86_400;
/** The longest --expires-in: a year. */
export const MAX_CHANNEL_EXPIRES_IN_S = 366 * 86_400;
