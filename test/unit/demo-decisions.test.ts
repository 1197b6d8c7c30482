// The demo's pure parts: who the instances are, their agent config, the HAProxy config and
// stats, the balancer's check states, the fleet table, the summary, and the drill's plan
// (who is lost and who replaces it), its traffic per phase and what an agent's log says.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../agent/config.ts';
import { HEALTH_CHECK } from '../../demo/balancer.ts';
import { createFleetView, describeTraffic, renderFleet, type FleetRow } from '../../demo/fleet-view.ts';
import { agentConfig, instanceIdsForWaves, type InstancePlan } from '../../demo/fleet.ts';
import { findHaproxy, haproxyConfig, parseStat, retriesOf, serverStatesOf } from '../../demo/haproxy.ts';
import { childEnv, FLEET } from '../../demo/index.ts';
import { describeCheckState, nextCheckState, type CheckState } from '../../demo/node-balancer.ts';
import type { Replacement } from '../../demo/drill.ts';
import type { TrafficCounts } from '../../demo/traffic.ts';
import { describeCopy } from '../../demo/mirror-store.ts';
import { countsBetween, nextInstanceId, planOutage, sourcesInLog } from '../../demo/outage-plan.ts';
import { describePhase, describeSummary, rollTimeoutMessage, type DemoSummary } from '../../demo/summary.ts';
import { slotOf, waveOf } from '../../agent/rollout/decide.ts';

const ZONES = ['local-1a', 'local-1b', 'local-1c'];

describe('instanceIdsForWaves', () => {
  it.each([1, 2, 3])('puts the instance of zone k in wave k of a %i-wave rollout', (waves) => {
    const ids = instanceIdsForWaves(ZONES, waves);
    expect(new Set(ids).size).toBe(3);
    expect(ids.map((id) => waveOf(slotOf(id), 100, waves))).toEqual([0, 1, 2].map((k) => k % waves));
  });

  it('names instances after their zone and is stable', () => {
    expect(instanceIdsForWaves(ZONES, 3)).toEqual(instanceIdsForWaves(ZONES, 3));
    expect(instanceIdsForWaves(ZONES, 3).every((id, k) => id.startsWith(`i-herd-${ZONES[k]?.slice(-1)}`))).toBe(true);
  });
});

describe('agentConfig', () => {
  const plan: InstancePlan = {
    instanceId: 'i-herd-a', zone: 'local-1a', healthPort: 41000, appPort: 41001, dataDir: '/tmp/d/i-herd-a', configFile: '/tmp/d/a.json', logFile: '/tmp/d/a.log',
  };
  const source = { bucket: 'herd-demo', prefix: 'herd', endpoint: 'http://127.0.0.1:4569', forcePathStyle: true };

  it('is a config the agent accepts, with a static identity in its zone on 127.0.0.1', () => {
    const config = buildConfig(agentConfig(plan, { role: 'web', sources: [source], pollIntervalS: 1, drainS: 2 }), 'demo');
    expect(config.identity).toEqual({ provider: 'static', instanceId: 'i-herd-a', role: 'web', az: 'local-1a', region: 'local' });
    expect(config).toMatchObject({ healthPort: 41000, appPort: 41001, healthHost: '127.0.0.1', appUser: null, pollIntervalS: 1, drainS: 2 });
  });

  it('drains longer than the balancer needs to take an instance out (fall checks, plus one interval of slack)', () => {
    expect(FLEET.drainS * 1000).toBeGreaterThanOrEqual((HEALTH_CHECK.fall + 1) * HEALTH_CHECK.interMs);
  });
});

describe('haproxyConfig', () => {
  const servers = [{ name: 'i-herd-a', appPort: 41001, healthPort: 41000 }, { name: 'i-herd-b', appPort: 41003, healthPort: 41002 }];
  const text = haproxyConfig({ port: 40999, statsSocket: '/tmp/x/haproxy.sock', servers, check: HEALTH_CHECK });

  it('checks each server on its health port and retries failed attempts elsewhere', () => {
    expect(text).toContain('bind 127.0.0.1:40999');
    expect(text).toContain('option httpchk GET /healthz');
    expect(text).toContain('default-server inter 500ms fall 2 rise 2');
    expect(text).toContain('server i-herd-a 127.0.0.1:41001 check port 41000');
    expect(text).toContain('server i-herd-b 127.0.0.1:41003 check port 41002');
    expect(text).toMatch(/retry-on conn-failure empty-response response-timeout/);
    expect(text).toMatch(/option redispatch 1/);
  });

  it('passes haproxy -c where HAProxy is installed', async (ctx) => {
    const bin = await findHaproxy([...(process.env.PATH ?? '').split(':'), '/usr/sbin']);
    if (!bin) return ctx.skip();
    const dir = await mkdtemp(join(tmpdir(), 'herd-haproxy-cfg-'));
    try {
      await writeFile(join(dir, 'haproxy.cfg'), text.replace('/tmp/x/', `${dir}/`));
      const { stdout } = await promisify(execFile)(bin, ['-c', '-f', join(dir, 'haproxy.cfg')]);
      expect(stdout).toContain('Configuration file is valid');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('HAProxy stats', () => {
  const csv = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight',
    'demo,FRONTEND,,,0,2,512,40,0,0,0,0,0,,,,,OPEN,',
    'fleet,i-herd-a,0,0,0,1,,20,0,0,,0,,0,0,1,0,UP,1',
    'fleet,i-herd-b,0,0,0,1,,20,0,0,,0,,0,0,0,3,UP 1/2,1',
    'fleet,BACKEND,0,0,0,2,52,40,0,0,0,0,,0,0,1,3,UP,2',
    '',
  ].join('\n');

  it('reads each server\'s status and the backend\'s retries', () => {
    const rows = parseStat(csv);
    expect(serverStatesOf(rows)).toEqual({ 'i-herd-a': 'UP', 'i-herd-b': 'UP 1/2' });
    expect(retriesOf(rows)).toEqual({ retried: 1, redispatched: 3 });
  });
});

describe('the Node balancer\'s checks', () => {
  const check = { fall: 2, rise: 2 };
  const run = (passes: boolean[]) => passes.reduce<CheckState[]>((states, passed) => [...states, nextCheckState(states.at(-1) as CheckState, passed, check)], [{ up: false, streak: 0 }]).slice(1);
  it.each([
    { passes: [true, true], shown: ['DOWN 1/2', 'UP'] },
    { passes: [true, false, true, true], shown: ['DOWN 1/2', 'DOWN', 'DOWN 1/2', 'UP'] },
    { passes: [true, true, false, true, false, false], shown: ['DOWN 1/2', 'UP', 'UP 1/2', 'UP', 'UP 1/2', 'DOWN'] },
  ])('goes up after rise passes and down after fall failures: $passes', ({ passes, shown }) => {
    expect(run(passes).map((s) => describeCheckState(s, check))).toEqual(shown);
  });
});

const row = (over: Partial<FleetRow>): FleetRow => ({
  instanceId: 'i-herd-a', zone: 'local-1a', release: 'hello-1', desired: 'hello-1', state: 'running', healthy: true, appPid: 1, lb: 'UP', ...over,
});

describe('the fleet view', () => {
  const rows = [row({}), row({ instanceId: 'i-herd-b', zone: 'local-1b', state: 'draining', healthy: false, lb: 'UP 1/2' })];

  it('renders aligned columns', () => {
    expect(renderFleet(rows)).toEqual([
      '  instance  zone      release  state     healthy  load balancer',
      '  i-herd-a  local-1a  hello-1  running   yes      UP',
      '  i-herd-b  local-1b  hello-1  draining  no       UP 1/2',
    ]);
  });

  it('prints again only when a row changes, when not on a terminal', () => {
    let written = '';
    const view = createFleetView({ write: (t) => { written += t; }, live: false });
    view.show(rows, 'traffic 1');
    view.show(rows, 'traffic 2');
    expect(written.match(/traffic/g)).toHaveLength(1);
    view.show([rows[0] as FleetRow, row({ instanceId: 'i-herd-b', zone: 'local-1b', lb: 'DOWN' })], 'traffic 3');
    expect(written).toContain('traffic 3');
    expect(written).not.toContain('\x1b[');
  });

  it('redraws in place on a terminal, with notes above the table', () => {
    let written = '';
    const view = createFleetView({ write: (t) => { written += t; }, live: true });
    view.show(rows, 'traffic 1');
    view.note('rolled');
    expect(written).toContain('\x1b[4A\x1b[J');
    expect(written.endsWith(`rolled\n${[...renderFleet(rows), 'traffic 1'].join('\n')}\n`)).toBe(true);
  });

  it('shows the traffic and the recent share of answers by release', () => {
    const line = describeTraffic({ elapsedS: 12.34, counts: { served: 300, failed: 0, byRelease: {}, failures: {} }, share: { 'hello-2': 60, 'hello-1': 40 }, windowS: 2 });
    expect(line).toBe('   12.3 s  300 served, 0 failed   last 2 s: hello-1 40% hello-2 60%');
    expect(describeTraffic(null)).toMatch(/no traffic yet/);
  });
});

describe('the summary', () => {
  it('says why the roll did not finish, naming the instances behind', () => {
    const message = rollTimeoutMessage([row({}), row({ instanceId: 'i-herd-b', release: 'hello-2', desired: 'hello-2' })], 'hello-2', 90);
    expect(message).toContain('i-herd-a runs hello-1 (wants hello-1, running, healthy, load balancer UP)');
    expect(message).not.toContain('i-herd-b');
    expect(rollTimeoutMessage([row({})], 'hello-2', 90)).toMatch(/no agent wants it/);
  });

  it('ends with the requests served and failed, by release', () => {
    const summary: DemoSummary = {
      role: 'web', from: 'hello-1', to: 'hello-2', drillOnly: false, rolled: true, rollSeconds: 14.2, trafficSeconds: 18, phases: [],
      balancer: { description: 'HAProxy 2.6.12', url: 'http://127.0.0.1:1', pid: 1, retried: 0, redispatched: 2 },
      requests: { served: 450, failed: 1, byRelease: { 'hello-1': 250, 'hello-2': 200 }, failures: { 'HTTP 503': 1 } },
      instances: [{ ...row({ release: 'hello-2' }), agentPid: 2, app: 'http://127.0.0.1:3/', healthz: 'http://127.0.0.1:4/healthz', status: 'http://127.0.0.1:4/status' }],
      store: 'http://127.0.0.1:5', mirror: null, dir: '/tmp/x',
    };
    const text = describeSummary(summary, false);
    expect(text).toContain('hello-1 -> hello-2, rolled in 14.2 s under traffic; now 1 instances in 1 zones');
    expect(text).toContain('450 served, 1 failed');
    expect(text).toContain('served by release: hello-1 250, hello-2 200');
    expect(text).toContain('failed: HTTP 503 ×1');
    expect(text).not.toContain('http://127.0.0.1:3/');
    expect(describeSummary(summary, true)).toContain('app http://127.0.0.1:3/  status http://127.0.0.1:4/status');
  });
});

describe('the summary of the drill', () => {
  const counts = (served: number, failed = 0): TrafficCounts => ({ served, failed, byRelease: { 'hello-1': served }, failures: failed ? { ECONNRESET: failed } : {} });
  const replacement = (over: Partial<Replacement>): Replacement => ({
    instanceId: 'i-herd-b-2', zone: 'local-1b', sources: ['s3://herd-demo/herd'], healthyAfterS: 3.24, inBalancerAfterS: 4.1,
    fetchedFrom: ['s3://herd-demo/herd'], failedSources: [], ...over,
  });
  const instance = (over: Partial<FleetRow>) => ({ ...row(over), agentPid: 2, app: 'http://127.0.0.1:3/', healthz: 'http://127.0.0.1:4/healthz', status: 'http://127.0.0.1:4/status' });
  const summary: DemoSummary = {
    role: 'web', from: 'hello-1', to: 'hello-2', drillOnly: true, rolled: false, rollSeconds: null, trafficSeconds: 14,
    balancer: { description: 'HAProxy 2.6.12', url: 'http://127.0.0.1:1', pid: 1, retried: 0, redispatched: 12 },
    requests: counts(330),
    phases: [
      { name: 'zone loss', seconds: 8.3, requests: counts(190), lost: 'i-herd-a in local-1a', replacement: replacement({}) },
      {
        name: 'store loss', seconds: 5.6, requests: counts(135, 1), lost: 'the primary store at http://127.0.0.1:5',
        replacement: replacement({
          instanceId: 'i-herd-c-2', zone: 'local-1c', sources: ['s3://herd-demo/herd', 's3://herd-demo-mirror/herd'], healthyAfterS: 2.2, inBalancerAfterS: 3,
          fetchedFrom: ['s3://herd-demo-mirror/herd'], failedSources: ['s3://herd-demo/herd'],
        }),
      },
    ],
    instances: [instance({ state: 'lost', release: null, healthy: false, lb: 'DOWN' }), instance({ instanceId: 'i-herd-b', zone: 'local-1b' }), instance({ instanceId: 'i-herd-b-2', zone: 'local-1b' })],
    store: 'http://127.0.0.1:5', mirror: 'http://127.0.0.1:6', dir: '/tmp/x',
  };

  it('has a line per phase: requests served and failed, what was lost, and how soon the replacement was healthy', () => {
    const lines = describeSummary(summary, false).split('\n');
    expect(lines).toContain('  web: hello-1 on 2 instances in 1 zones; no roll (--drill-only)');
    expect(lines).toContain('    zone loss   190 served, 0 failed in 8.3 s: lost i-herd-a in local-1a; i-herd-b-2 in local-1b healthy after 3.2 s (in the load balancer after 4.1 s)');
    expect(lines).toContain('    store loss  135 served, 1 failed in 5.6 s: lost the primary store at http://127.0.0.1:5; i-herd-c-2 in local-1c healthy after 2.2 s ' +
      '(in the load balancer after 3.0 s), fetched from s3://herd-demo-mirror/herd');
    expect(describePhase({ name: 'roll', seconds: 17.7, requests: counts(406), lost: null, replacement: null })).toBe('    roll        406 served, 0 failed in 17.7 s');
  });

  it('lists the mirror with the URLs, and the lost instance as lost', () => {
    const text = describeSummary(summary, true);
    expect(text).toContain('  mirror         http://127.0.0.1:6/');
    expect(text).toContain('  store          http://127.0.0.1:5/ (stopped by the drill)');
    expect(text).toMatch(/i-herd-a\s+local-1a\s+lost in the drill\n/);
  });
});

describe('planOutage', () => {
  const fleet = [{ instanceId: 'i-herd-a', zone: 'local-1a' }, { instanceId: 'i-herd-b', zone: 'local-1b' }, { instanceId: 'i-herd-c', zone: 'local-1c' }];

  it('loses the first zone, replaces it in the emptiest surviving zone, and boots the fresh instance in the next', () => {
    expect(planOutage(fleet, ZONES)).toEqual({
      lostZone: 'local-1a', lost: 'i-herd-a',
      replacement: { instanceId: 'i-herd-b-2', zone: 'local-1b' },
      fresh: { instanceId: 'i-herd-c-2', zone: 'local-1c' },
    });
  });

  it('never places anything in the lost zone, and picks ids nobody has', () => {
    const crowded = [...fleet, { instanceId: 'i-herd-a-2', zone: 'local-1a' }, { instanceId: 'i-herd-c-2', zone: 'local-1b' }];
    const plan = planOutage(crowded, ZONES);
    expect(plan.replacement).toEqual({ instanceId: 'i-herd-c-3', zone: 'local-1c' });
    expect(plan.fresh.zone).not.toBe('local-1a');
    expect(nextInstanceId('local-1b', new Set(['i-herd-b', 'i-herd-b-2']))).toBe('i-herd-b-3');
  });

  it('refuses a fleet with nobody in the first zone, or no zone left', () => {
    expect(() => planOutage(fleet.slice(1), ZONES)).toThrow(/no instance in the first zone \(local-1a\)/);
    expect(() => planOutage(fleet.slice(0, 1), ['local-1a'])).toThrow(/no zone survives/);
  });
});

describe('countsBetween', () => {
  it('is what the traffic did between two snapshots', () => {
    const before = { served: 10, failed: 1, byRelease: { 'hello-1': 10 }, failures: { ECONNRESET: 1 } };
    const after = { served: 25, failed: 1, byRelease: { 'hello-1': 12, 'hello-2': 13 }, failures: { ECONNRESET: 1 } };
    expect(countsBetween(before, after)).toEqual({ served: 15, failed: 0, byRelease: { 'hello-1': 2, 'hello-2': 13 }, failures: {} });
  });
});

describe('sourcesInLog', () => {
  it('reads where an agent fetched its release and which sources failed it, from its JSON log', () => {
    const log = [
      JSON.stringify({ level: 40, module: 'sources', source: 's3://p/herd (http://127.0.0.1:1)', err: 'connect ECONNREFUSED', msg: 'channel read failed; trying the next source' }),
      'not json',
      '{"broken',
      JSON.stringify({ level: 30, bytes: 512, source: 's3://m/herd (http://127.0.0.1:2)', msg: 'release fetched and verified' }),
      JSON.stringify({ level: 30, source: 's3://m/herd (http://127.0.0.1:2)', msg: 'release signature verified' }),
    ].join('\n');
    expect(sourcesInLog(log)).toEqual({ fetchedFrom: ['s3://m/herd (http://127.0.0.1:2)'], failed: ['s3://p/herd (http://127.0.0.1:1)'] });
    expect(sourcesInLog('')).toEqual({ fetchedFrom: [], failed: [] });
  });
});

describe('describeCopy', () => {
  it('puts what herd mirror --json did in a line', () => {
    const json = JSON.stringify({ roles: [{ role: 'web', releasesCopied: ['hello-1', 'hello-2'], channel: { action: 'copy', generation: 2 } }], problems: [] });
    expect(describeCopy(json)).toBe('2 releases copied (hello-1, hello-2), channel generation 2');
    expect(describeCopy(JSON.stringify({ roles: [{ releasesCopied: [], channel: { action: 'skip', why: 'x' } }] }))).toBe('0 releases copied (none), no channel');
  });
});

describe('childEnv', () => {
  it('keeps the host environment but none of its herd or AWS settings, and adds the local store\'s credentials', () => {
    const env = childEnv({ PATH: '/bin', HOME: '/root', HERD_DRAIN_S: '30', AWS_PROFILE: 'prod', AWS_REGION: 'eu-west-1', UNSET: undefined });
    expect(env).toEqual({ PATH: '/bin', HOME: '/root', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
  });
});
