// Shows the fleet as it changes: a table of instances (zone, release, state, healthy, and
// what the load balancer thinks) with a traffic line. On a terminal it is redrawn in
// place every tick; otherwise it is printed again whenever a row changes.
import type { TrafficCounts } from './traffic.ts';
import type { InstanceStatus } from './fleet.ts';

export interface FleetRow extends InstanceStatus {
  /** The balancer's view: "UP", "DOWN", "UP 1/2"... */
  lb: string;
}

const HEADER = ['instance', 'zone', 'release', 'state', 'healthy', 'load balancer'];

/** Pure: the table's lines, columns padded to fit. */
export function renderFleet(rows: FleetRow[]): string[] {
  const cells = [HEADER, ...rows.map((r) => [r.instanceId, r.zone, r.release ?? '-', r.state, r.healthy ? 'yes' : 'no', r.lb])];
  const widths = HEADER.map((_, c) => Math.max(...cells.map((row) => (row[c] as string).length)));
  return cells.map((row) => `  ${row.map((cell, c) => cell.padEnd(widths[c] as number)).join('  ')}`.trimEnd());
}

/** Pure: "41.2 s  1203 served, 0 failed   last 2 s: hello-1 40% hello-2 60%", or that none runs yet. */
export function describeTraffic(input: { elapsedS: number; counts: TrafficCounts; share: Record<string, number>; windowS: number } | null): string {
  if (!input) return '  no traffic yet: it starts once every instance is healthy and in the load balancer';
  const share = Object.entries(input.share).sort(([a], [b]) => a.localeCompare(b)).map(([release, pct]) => `${release} ${pct}%`).join(' ');
  return `  ${input.elapsedS.toFixed(1).padStart(5)} s  ${input.counts.served} served, ${input.counts.failed} failed` +
    (share ? `   last ${input.windowS} s: ${share}` : '');
}

/** Pure: what counts as a change worth printing again (not the traffic numbers). */
export function fleetSignature(rows: FleetRow[]): string {
  return JSON.stringify(rows.map((r) => [r.instanceId, r.release, r.state, r.healthy, r.lb]));
}

export interface FleetView {
  /** A line above the table (an event: published, rolled...). */
  note(line: string): void;
  show(rows: FleetRow[], traffic: string): void;
  /** Leave the last table on screen: what is printed next goes below it. */
  end(): void;
}

export function createFleetView(input: { write: (text: string) => void; live: boolean }): FleetView {
  let drawn: string[] = [];
  let lastSignature = '';
  const erase = () => {
    if (input.live && drawn.length) input.write(`\x1b[${drawn.length}A\x1b[J`);
  };
  const draw = () => {
    if (drawn.length) input.write(`${drawn.join('\n')}\n`);
  };
  return {
    note(line) {
      erase();
      input.write(`${line}\n`);
      if (input.live) draw();
      else lastSignature = '';
    },
    show(rows, traffic) {
      const signature = fleetSignature(rows);
      if (!input.live && signature === lastSignature) return;
      lastSignature = signature;
      erase();
      drawn = [...renderFleet(rows), traffic];
      draw();
    },
    end() {
      drawn = [];
    },
  };
}
