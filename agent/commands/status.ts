// herd status: the role's channel and one row per instance report, read-decide-print.
// A report is a report: unhealthy or stale instances still exit 0; only a store that
// cannot be read fails the command.
import * as z from '../zod.ts';
import { IntegrityError } from '../errors.ts';
import { readSignature } from '../signing/signature.ts';
import type { Logger } from '../log.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { describeHalt, haltOf } from '../rollout/halt.ts';
import { roleSchema, type Channel, type FailureMarker, type InstanceReport, type InstanceState } from '../store/schemas.ts';
import { parseFlag } from '../flags.ts';
import { DEFAULT_STALE_AFTER_S } from './defaults.ts';

export { DEFAULT_STALE_AFTER_S };

export interface StatusInput {
  store: ObjectStore;
  role: string;
  staleAfterS?: number;
  log: Logger;
  now?: Date;
}

export interface InstanceRow {
  instance: string;
  az: string | null;
  region: string | null;
  release: string | null;
  desired: string | null;
  state: InstanceState | null;
  healthy: boolean | null;
  lastError: string | null;
  failedReleases: string[];
  agentVersion: string | null;
  updatedAt: string | null;
  ageS: number | null;
  stale: boolean;
  /** Why the report could not be used; the fields above are then null. */
  error: string | null;
}

export interface StatusSummary {
  instances: number;
  /** Fresh reports that say healthy: a stale report says nothing about now. */
  healthy: number;
  /** Instances running the channel's release (0 without a channel). */
  onRelease: number;
  stale: number;
  unreadable: number;
}

/** The channel's signature as found (status has no keys: it says who signed it and until when, agents check it). */
export interface ChannelSignatureView {
  /** The key id the signature object names; null when it does not parse. */
  keyId: string | null;
  /** Why the signature object cannot be read; null when it can. */
  error: string | null;
}

export interface FleetStatus {
  role: string;
  channel: Channel | null;
  /** Set when the channel exists but does not parse or validate. */
  channelError: string | null;
  /** channel.json.sig, or null when the channel is unsigned. */
  signature: ChannelSignatureView | null;
  /** The channel's expiresAt has passed: agents with trustedKeys refuse it (freeze). */
  expired: boolean;
  instances: InstanceRow[];
  /** The channel's release failed on these instances for this generation; halted once they reach maxFailures. */
  rollout: { halted: boolean; maxFailures: number; failures: Array<{ instance: string; reason: string; at: string }>; message: string | null } | null;
  summary: StatusSummary;
  staleAfterS: number;
  generatedAt: string;
}

export type ReportRead = InstanceReport | { key: string; error: string };

/** Pure: "4s", "3m", "2h", "5d" (whole units, rounded down). */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** Pure: rows sorted by AZ then instance (unreadable reports last), and the summary. */
export function buildStatus(input: {
  role: string; channel: Channel | null; channelError?: string | null; signature?: ChannelSignatureView | null; reports: ReportRead[];
  markers?: FailureMarker[]; now: Date; staleAfterS: number;
}): FleetStatus {
  const rows = input.reports.map((r) => rowOf(r, input.role, input.now, input.staleAfterS));
  rows.sort((a, b) => compare(a.error === null ? 0 : 1, b.error === null ? 0 : 1) || compare(a.az ?? '', b.az ?? '') || compare(a.instance, b.instance));
  const fresh = rows.filter((r) => r.error === null && !r.stale);
  return {
    role: input.role,
    channel: input.channel,
    channelError: input.channelError ?? null,
    signature: input.signature ?? null,
    expired: input.channel?.expiresAt !== undefined && Date.parse(input.channel.expiresAt) < input.now.getTime(),
    instances: rows,
    rollout: input.channel ? rolloutOf(input.channel, input.markers ?? []) : null,
    summary: {
      instances: rows.length,
      healthy: fresh.filter((r) => r.healthy === true).length,
      onRelease: input.channel ? rows.filter((r) => r.release === input.channel?.release).length : 0,
      stale: rows.filter((r) => r.stale).length,
      unreadable: rows.filter((r) => r.error !== null).length,
    },
    staleAfterS: input.staleAfterS,
    generatedAt: input.now.toISOString(),
  };
}

function rolloutOf(channel: Channel, markers: FailureMarker[]): FleetStatus['rollout'] {
  const halt = haltOf(channel, markers);
  return {
    halted: halt.halted, maxFailures: halt.maxFailures,
    failures: halt.failures.map((f) => ({ instance: f.instanceId, reason: f.reason, at: f.at })),
    message: halt.halted ? describeHalt(channel, halt) : null,
  };
}

function rowOf(read: ReportRead, role: string, now: Date, staleAfterS: number): InstanceRow {
  if ('error' in read) return errorRow(instanceFromKey(read.key), read.error);
  if (read.role !== role) return errorRow(read.instanceId, `report names role "${read.role}", expected "${role}"`);
  const ageS = Math.max(0, Math.round((now.getTime() - Date.parse(read.updatedAt)) / 1000));
  return {
    instance: read.instanceId, az: read.az, region: read.region, release: read.release, desired: read.desired,
    state: read.state, healthy: read.healthy, lastError: read.lastError, failedReleases: read.failedReleases,
    agentVersion: read.agentVersion, updatedAt: read.updatedAt, ageS, stale: ageS > staleAfterS, error: null,
  };
}

function errorRow(instance: string, error: string): InstanceRow {
  return {
    instance, az: null, region: null, release: null, desired: null, state: null, healthy: null, lastError: null,
    failedReleases: [], agentVersion: null, updatedAt: null, ageS: null, stale: false, error,
  };
}

function instanceFromKey(key: string): string {
  return (key.split('/').pop() ?? key).replace(/\.json$/, '');
}

function compare(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Pure: the status for people: the channel on top, an aligned table, a summary line. */
export function renderStatus(status: FleetStatus): string {
  const lines = [...renderChannel(status), ''];
  if (status.instances.length === 0) {
    lines.push(`no instance of role ${status.role} has reported yet`);
    return lines.join('\n');
  }
  const header = ['INSTANCE', 'AZ', 'RELEASE', 'DESIRED', 'STATE', 'HEALTHY', 'LAST SEEN', 'ERROR'];
  const body = status.instances.map((r) => [
    r.instance, dash(r.az), dash(r.release), dash(r.desired), dash(r.state),
    r.healthy === null ? '-' : r.healthy ? 'yes' : 'no',
    r.ageS === null ? '-' : `${formatAge(r.ageS)}${r.stale ? ' STALE' : ''}`,
    r.error !== null ? `unreadable: ${short(r.error, 100)}` : short(r.lastError ?? '', 60),
  ]);
  lines.push(...alignColumns([header, ...body]), '', summaryLine(status));
  return lines.join('\n');
}

function renderChannel(status: FleetStatus): string[] {
  const c = status.channel;
  if (status.channelError !== null) return [`channel  unreadable: ${status.channelError}`];
  if (!c) return [`channel  none for role ${status.role} (run herd roll)`];
  const { percent, waves, waveIntervalS, startedAt } = c.rollout;
  const spread = waves > 1 ? `in ${waves} waves every ${waveIntervalS}s` : 'at once';
  const age = formatAge((Date.parse(status.generatedAt) - Date.parse(c.updatedAt)) / 1000);
  return [
    `channel  ${c.role} -> ${c.release} (previous ${c.previous ?? 'none'})`,
    `rollout  ${percent}% ${spread}, from ${startedAt}`,
    `paused   ${c.paused ? 'YES: agents keep what they run' : 'no'}`,
    ...haltLines(status),
    `updated  generation ${c.generation}, ${c.updatedAt} (${age} ago) by ${c.updatedBy}`,
    ...signedLine(status, c),
  ];
}

function haltLines(status: FleetStatus): string[] {
  const r = status.rollout;
  if (!r || r.failures.length === 0) return [];
  const head = r.halted
    ? `halted   YES: ${r.failures.length} instance${r.failures.length === 1 ? '' : 's'} failed ${status.channel?.release} (max failures ${r.maxFailures}); the others keep what they run until herd roll or herd rollback`
    : `failures ${r.failures.length} of ${r.maxFailures} allowed before the rollout halts`;
  return [head, ...r.failures.map((f) => `         ${f.instance}: ${short(f.reason, 100)} (${f.at})`)];
}

/** `signed   by key …, expires … (in 6d)`, or what agents with trustedKeys will refuse; nothing for an unsigned channel without expiry. */
function signedLine(status: FleetStatus, c: Channel): string[] {
  const sig = status.signature;
  if (!sig && c.expiresAt === undefined) return [];
  const resign = `agents with trustedKeys refuse it: run herd resign --role ${c.role} --sign-key FILE`;
  const by = !sig ? 'NO SIGNATURE (channel.json.sig missing): agents with trustedKeys refuse it'
    : sig.error !== null ? `UNREADABLE SIGNATURE (${sig.error})` : `by key ${sig.keyId}`;
  if (c.expiresAt === undefined) return [`signed   ${by}, NO EXPIRY: ${resign}`];
  const inS = (Date.parse(c.expiresAt) - Date.parse(status.generatedAt)) / 1000;
  const when = status.expired ? `EXPIRED ${c.expiresAt} (${formatAge(-inS)} ago): ${resign}` : `expires ${c.expiresAt} (in ${formatAge(inS)})`;
  return [`signed   ${by}, ${when}`];
}

function summaryLine(status: FleetStatus): string {
  const s = status.summary;
  const parts = [`${s.healthy} healthy`];
  if (status.channel) parts.push(`${s.onRelease} on ${status.channel.release}`);
  parts.push(`${s.stale} stale (no report for over ${status.staleAfterS}s)`);
  if (s.unreadable > 0) parts.push(`${s.unreadable} unreadable`);
  return `${s.instances} instance${s.instances === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

/** Pads every column but the last to its widest cell, two spaces apart. */
function alignColumns(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

const dash = (v: string | null): string => v ?? '-';

function short(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export async function status(input: StatusInput): Promise<FleetStatus> {
  const role = parseFlag('role', roleSchema, input.role);
  const staleAfterS = parseFlag('staleAfterS', z.number().check(z.positive()), input.staleAfterS ?? DEFAULT_STALE_AFTER_S);
  let channel: Channel | null = null;
  let channelError: string | null = null;
  try {
    const read = await input.store.getChannel(role);
    if (read.kind === 'found') channel = read.channel;
  } catch (err) {
    // A channel that does not parse is something to show, not a reason to hide the fleet.
    if (!(err instanceof IntegrityError)) throw err;
    channelError = err.message;
  }
  const [reports, markers, signature] = await Promise.all([
    input.store.listReports(role), channel ? input.store.listFailureMarkers(role, channel.release) : [], channel ? readChannelSignature(input.store, role) : null,
  ]);
  const result = buildStatus({ role, channel, channelError, signature, reports, markers, now: input.now ?? new Date(), staleAfterS });
  input.log.debug({ role, ...result.summary }, 'status read');
  return result;
}

async function readChannelSignature(store: ObjectStore, role: string): Promise<ChannelSignatureView | null> {
  const found = await store.getChannelSignature(role).catch((err: unknown) => {
    if (err instanceof IntegrityError) return { error: err.message };
    throw err;
  });
  if (!found) return null;
  if ('error' in found) return { keyId: null, error: found.error };
  try {
    return { keyId: readSignature(found.bytes, store.layout.channelSignature(role)).keyId, error: null };
  } catch (err) {
    return { keyId: null, error: (err as Error).message };
  }
}
