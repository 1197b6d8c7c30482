// state.json: the last-known-good release and the releases that failed here. Pure parsing
// and updates; DataDir does the disk I/O.
import * as z from '../zod.ts';
import { releaseIdSchema } from '../store/schemas.ts';

export const STATE_SCHEMA = 'herd/state@1';

const failureSchema = z.object({
  reason: z.string(),
  at: z.string(),
  /** The channel generation that asked for it: a changed channel allows a new try. */
  generation: z.nullable(z.int()),
});

export const localStateSchema = z.object({
  schema: z.literal(STATE_SCHEMA),
  lastKnownGood: z.nullable(releaseIdSchema),
  failed: z.record(releaseIdSchema, failureSchema),
  updatedAt: z.string(),
});
export type LocalState = z.infer<typeof localStateSchema>;
export type Failure = z.infer<typeof failureSchema>;

export function emptyState(now: Date = new Date()): LocalState {
  return { schema: STATE_SCHEMA, lastKnownGood: null, failed: {}, updatedAt: now.toISOString() };
}

export function withLastKnownGood(state: LocalState, id: string, now: Date = new Date()): LocalState {
  const failed = { ...state.failed };
  delete failed[id];
  return { ...state, lastKnownGood: id, failed, updatedAt: now.toISOString() };
}

/**
 * Records that `id` failed here. A failure outside any channel generation (a last-known-good
 * start) keeps the generation an earlier failure was recorded against, so it neither clears
 * nor re-arms the "not retried until the channel changes" rule.
 */
export function withFailure(state: LocalState, id: string, failure: Omit<Failure, 'at'>, now: Date = new Date()): LocalState {
  const generation = failure.generation ?? state.failed[id]?.generation ?? null;
  return { ...state, failed: { ...state.failed, [id]: { ...failure, generation, at: now.toISOString() } }, updatedAt: now.toISOString() };
}
