// The designs npm run bench:scale compares: where agents read the channel and write reports,
// how often they poll and heartbeat. Each says whether herd can run it today. Pure data.
import type { SourceSpec } from './scale-fleet.ts';

export interface Candidate {
  name: string;
  what: string;
  /** What herd still lacks to run it ('' when it runs today). */
  needs: string;
  sources: SourceSpec[];
  pollIntervalS: number;
  reportHeartbeatS: number;
  /** Run by default; the others with --all (each takes 10-20 s at 100,000 instances). */
  core?: true;
}

const standard: SourceSpec = { name: 'standard', type: 'standard', writable: true };
const express: SourceSpec = { name: 'express', type: 'express', writable: true };
const NEEDS_EXPRESS = 'directory buckets in the agent\'s S3 client (CreateSession; docs/scale.md)';

export const CANDIDATES: readonly Candidate[] = [
  { name: 'today', core: true, what: 'one standard bucket; poll 10 s, report heartbeat 60 s', needs: '', sources: [standard], pollIntervalS: 10, reportHeartbeatS: 60 },
  { name: 'standard-hb30m', core: true, what: 'one standard bucket; poll 10 s, heartbeat 30 min', needs: '', sources: [standard], pollIntervalS: 10, reportHeartbeatS: 1800 },
  {
    name: 'standard-2copies', what: 'standard bucket, channel copied under 2 prefixes; poll 10 s, heartbeat 30 min', needs: 'channel copies (modelled only)',
    sources: [{ ...standard, channelCopies: 2 }], pollIntervalS: 10, reportHeartbeatS: 1800,
  },
  { name: 'standard-poll60', core: true, what: 'one standard bucket; poll 60 s, heartbeat 30 min', needs: '', sources: [standard], pollIntervalS: 60, reportHeartbeatS: 1800 },
  {
    name: 'cdn', core: true, what: 'a CDN (1 s cache) first, standard bucket behind for reports; poll 10 s, heartbeat 30 min', needs: 'HTTP sources (issue 9, item 2)',
    sources: [{ name: 'cdn', type: 'cdn', writable: false, channelDelayMs: 1_000 }, standard], pollIntervalS: 10, reportHeartbeatS: 1800,
  },
  { name: 'express-hb60s', core: true, what: 'Express One Zone first, standard behind; poll 10 s, heartbeat 60 s', needs: NEEDS_EXPRESS, sources: [express, standard], pollIntervalS: 10, reportHeartbeatS: 60 },
  { name: 'express-hb15m', what: 'Express One Zone first, standard behind; poll 10 s, heartbeat 15 min', needs: NEEDS_EXPRESS, sources: [express, standard], pollIntervalS: 10, reportHeartbeatS: 900 },
  { name: 'express', core: true, what: 'Express One Zone first, standard behind; poll 10 s, heartbeat 30 min', needs: NEEDS_EXPRESS, sources: [express, standard], pollIntervalS: 10, reportHeartbeatS: 1800 },
  { name: 'express-poll5', what: 'Express One Zone first, standard behind; poll 5 s, heartbeat 30 min', needs: NEEDS_EXPRESS, sources: [express, standard], pollIntervalS: 5, reportHeartbeatS: 1800 },
  {
    name: 'express-mirrored', core: true, what: 'as express, but the roll reaches Express through herd mirror --watch --interval 5 (up to 6 s later)', needs: NEEDS_EXPRESS,
    sources: [{ ...express, channelDelayMs: 6_000 }, standard], pollIntervalS: 10, reportHeartbeatS: 1800,
  },
  {
    name: 'express-mirror30', what: 'as express-mirrored with mirror --watch\'s default interval, 30 s (up to 31 s later)', needs: NEEDS_EXPRESS,
    sources: [{ ...express, channelDelayMs: 31_000 }, standard], pollIntervalS: 10, reportHeartbeatS: 1800,
  },
  {
    name: 'express-down', core: true, what: 'as express, with the Express zone down the whole time: every agent on the standard bucket', needs: NEEDS_EXPRESS,
    sources: [{ ...express, down: [[-Infinity, Infinity]] }, standard], pollIntervalS: 10, reportHeartbeatS: 1800,
  },
];

/** The goals of issue 9: at 100,000 instances of one role, within these. */
export const GOALS = { instances: 100_000, latencyS: 30, dollarsPerInstanceMonth: 0.03 } as const;
