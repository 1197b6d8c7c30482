// Pure parts of the outage drill: who is lost and who replaces it, what each phase of the
// demo saw of the traffic, and which source an agent's log says it fetched a release from.
import type { TrafficCounts } from './traffic.ts';

export interface Member { instanceId: string; zone: string }

export interface OutagePlan {
  /** The zone that goes dark, and the one instance of the fleet in it. */
  lostZone: string;
  lost: string;
  /** Booted after the zone loss, in a zone that survives. */
  replacement: Member;
  /** Booted after the store loss, reading [primary, mirror]. */
  fresh: Member;
}

/**
 * The first zone's instance is lost; the replacement, then the fresh instance, go to the
 * surviving zone with the fewest instances (the first such in `zones`), as an Auto Scaling
 * group balances its zones. Ids follow the fleet's: i-herd-<zone letter>[-n], unused.
 */
export function planOutage(fleet: readonly Member[], zones: readonly string[]): OutagePlan {
  const lostZone = zones[0];
  const lost = fleet.find((m) => m.zone === lostZone);
  if (lostZone === undefined || !lost) throw new Error(`no instance in the first zone (${lostZone ?? 'none'}) to lose`);
  const alive: Member[] = fleet.filter((m) => m !== lost);
  const taken = new Set(fleet.map((m) => m.instanceId));
  const add = (): Member => {
    const zone = emptiestZone(alive, zones.filter((z) => z !== lostZone));
    const member = { instanceId: nextInstanceId(zone, taken), zone };
    alive.push(member);
    taken.add(member.instanceId);
    return member;
  };
  const replacement = add();
  return { lostZone, lost: lost.instanceId, replacement, fresh: add() };
}

function emptiestZone(members: readonly Member[], zones: readonly string[]): string {
  const count = (zone: string) => members.filter((m) => m.zone === zone).length;
  const zone = zones.reduce<string | undefined>((best, z) => (best === undefined || count(z) < count(best) ? z : best), undefined);
  if (zone === undefined) throw new Error('no zone survives the loss');
  return zone;
}

/** i-herd-b, else i-herd-b-2, i-herd-b-3...: the first not in `taken`. */
export function nextInstanceId(zone: string, taken: ReadonlySet<string>): string {
  const base = `i-herd-${zone.slice(-1)}`;
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base}-${n}`;
    if (!taken.has(id)) return id;
  }
}

/** What the traffic did between two snapshots of its counts. */
export function countsBetween(before: TrafficCounts, after: TrafficCounts): TrafficCounts {
  const minus = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(
    Object.entries(a).map(([k, n]) => [k, n - (b[k] ?? 0)] as const).filter(([, n]) => n > 0),
  );
  return {
    served: after.served - before.served,
    failed: after.failed - before.failed,
    byRelease: minus(after.byRelease, before.byRelease),
    failures: minus(after.failures, before.failures),
  };
}

/** From an agent's JSON log: the sources it fetched releases from, and those a read failed on. */
export function sourcesInLog(log: string): { fetchedFrom: string[]; failed: string[] } {
  const fetchedFrom = new Set<string>();
  const failed = new Set<string>();
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: { msg?: unknown; source?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (typeof entry.source !== 'string' || typeof entry.msg !== 'string') continue;
    if (entry.msg === 'release fetched and verified') fetchedFrom.add(entry.source);
    if (entry.msg.endsWith('failed; trying the next source')) failed.add(entry.source);
  }
  return { fetchedFrom: [...fetchedFrom], failed: [...failed] };
}
