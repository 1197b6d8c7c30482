// Defaults the CLI shows in --help, apart from the commands that use them, so building the
// program loads none of the commands' code.

/** Agents report on every change; one silent for longer than this is flagged STALE. */
/** Three of the agents' report heartbeats (60 s): one missed write is not yet stale. */
export const DEFAULT_STALE_AFTER_S = 180;

/** File name stem of the key pair `herd keygen` writes. */
export const DEFAULT_KEY_NAME = 'herd-release';
