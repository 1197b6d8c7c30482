// Auto Scaling lifecycle hooks with real agents, the fake IMDSv2 (identity, instance-profile
// credentials, the target lifecycle state) and a fake Auto Scaling Query API endpoint
// (AWS_ENDPOINT_URL_AUTO_SCALING): the launch hook is completed with CONTINUE only once the
// first release passes its gate, kept alive by heartbeats while that is slow, ABANDONed when no
// release can get healthy; the terminate hook is completed once the app has stopped.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS } from '../../support/local-s3.ts';
import { startAutoScalingServer, type AutoScalingServer, type Hook } from '../fixtures/auto-scaling-server.ts';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';
import {
  HELLO_APP, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace, type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

const GROUP = 'web-asg';
const LAUNCH: Hook = { name: 'herd-launch', transition: 'autoscaling:EC2_INSTANCE_LAUNCHING', heartbeatTimeoutS: 30, defaultResult: 'ABANDON' };
const TERMINATE: Hook = { name: 'herd-terminate', transition: 'autoscaling:EC2_INSTANCE_TERMINATING', heartbeatTimeoutS: 30, defaultResult: 'CONTINUE' };

describe('Auto Scaling lifecycle hooks', () => {
  let ws: Workspace;
  const running: Array<{ agent: AgentProcess; imds: ImdsServer; asg: AutoScalingServer }> = [];
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const publishAndRoll = async (role: string, code: string) => {
    expect((await herd('publish', '--role', role, '--code', code, '--release', `${role}-1`)).code).toBe(0);
    expect((await herd('roll', '--role', role, '--release', `${role}-1`)).code).toBe(0);
  };

  beforeAll(async () => {
    ws = await workspace();
    await publishAndRoll('web', HELLO_APP);
    // Healthy only after ~12 s: a slow first boot, longer than a heartbeat interval (30 s / 3).
    await publishAndRoll('slow', await codeVariant(ws.dir, 'slow', (spec) => ({
      ...spec, command: ['sh', '-c', 'sleep 12; exec node server.mjs'], health: { path: '/healthz', timeoutS: 40 },
    })));
    await publishAndRoll('dud', await codeVariant(ws.dir, 'dud', (spec) => ({ ...spec, command: ['node', '-e', 'process.exit(1)'] })));
  });
  afterAll(async () => {
    for (const r of running.splice(0)) {
      await r.agent.stop();
      await Promise.all([r.imds.close(), r.asg.close()]);
    }
    await ws?.close();
  });

  async function boot(role: string, hooks: Hook[], autoScaling: Record<string, string>) {
    const instanceId = `i-asg-${role}-${running.length}`;
    const asg = await startAutoScalingServer({ group: GROUP, hooks, instances: [instanceId] });
    const imds = await startImdsServer({ instanceId, region: 'us-east-1', az: 'us-east-1a', tags: { 'herd:role': role }, credentials: LOCAL_S3_CREDENTIALS });
    const [healthPort, appPort] = [await freePort(), await freePort()];
    const file = join(ws.dir, `${instanceId}.json`);
    await writeFile(file, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], dataDir: join(ws.dir, instanceId), healthPort, healthHost: '127.0.0.1',
      appPort, appUser: null, pollIntervalS: 0.5, drainS: 0.5, noticePollS: 0.2, autoScaling,
    }));
    const agent = startAgent(file, cleanEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url, AWS_ENDPOINT_URL_AUTO_SCALING: asg.url }));
    running.push({ agent, imds, asg });
    const completions = () => asg.calls.filter((c) => c.action === 'CompleteLifecycleAction');
    return { instanceId, asg, imds, agent, healthPort, appPort, completions };
  }
  const timeOf = (agent: AgentProcess, msg: string) => agent.lines.find((l) => l.msg === msg)?.time as number | undefined;

  it('completes the launch hook with CONTINUE only once the first release passes its gate', async () => {
    const { instanceId, asg, agent, completions } = await boot('web', [LAUNCH], { launchHook: LAUNCH.name });
    await waitUntil('InService', async () => asg.lifecycleState(instanceId) === 'InService' || undefined, 45_000);
    expect(completions()).toHaveLength(1);
    expect(completions()[0]?.params).toMatchObject({
      AutoScalingGroupName: GROUP, LifecycleHookName: LAUNCH.name, InstanceId: instanceId, LifecycleActionResult: 'CONTINUE',
    });
    expect(completions()[0]?.at).toBeGreaterThanOrEqual(timeOf(agent, 'release running and healthy') as number);
    expect(asg.calls.find((c) => c.action === 'DescribeAutoScalingInstances')?.params['InstanceIds.member.1']).toBe(instanceId);
  });

  it('sends heartbeats while a slow first boot goes on, then CONTINUE', async () => {
    const { instanceId, asg, completions, agent } = await boot('slow', [LAUNCH], { launchHook: LAUNCH.name });
    await waitUntil('InService', async () => asg.lifecycleState(instanceId) === 'InService' || undefined, 60_000);
    const heartbeats = asg.calls.filter((c) => c.action === 'RecordLifecycleActionHeartbeat' && c.status === 200);
    expect(heartbeats.length).toBeGreaterThanOrEqual(1);
    expect(heartbeats.every((h) => h.at < (completions()[0]?.at as number))).toBe(true);
    expect(heartbeats[0]?.params).toMatchObject({ LifecycleHookName: LAUNCH.name, InstanceId: instanceId, AutoScalingGroupName: GROUP });
    expect(completions()[0]?.at).toBeGreaterThanOrEqual(timeOf(agent, 'release running and healthy') as number);
    // Done: no more heartbeats.
    const before = asg.calls.length;
    await new Promise((r) => setTimeout(r, 1_000));
    expect(asg.calls.slice(before).filter((c) => c.action === 'RecordLifecycleActionHeartbeat')).toEqual([]);
  }, 90_000);

  it('ABANDONs the launch hook when no release can get healthy', async () => {
    const { instanceId, asg, completions, healthPort } = await boot('dud', [LAUNCH], { launchHook: LAUNCH.name });
    await waitUntil('abandoned', async () => asg.lifecycleState(instanceId) === 'Terminating' || undefined, 45_000);
    expect(completions().map((c) => c.params.LifecycleActionResult)).toEqual(['ABANDON']);
    expect((await get(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(503);
  });

  it('on a Terminated target lifecycle state drains, stops the app, then completes the terminate hook', async () => {
    const { instanceId, asg, imds, agent, healthPort, appPort, completions } = await boot('web', [TERMINATE], { terminateHook: TERMINATE.name });
    await waitUntil('healthy', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200, 45_000);
    asg.beginTermination(instanceId);
    imds.set('meta-data/autoscaling/target-lifecycle-state', 'Terminated');
    await waitUntil('terminated', async () => asg.lifecycleState(instanceId) === 'Terminated' || undefined, 30_000);
    expect(completions().map((c) => c.params)).toEqual([expect.objectContaining({ LifecycleHookName: TERMINATE.name, LifecycleActionResult: 'CONTINUE', InstanceId: instanceId })]);
    const stoppedAt = agent.lines.find((l) => l.msg === 'app stopped')?.time as number;
    expect(completions()[0]?.at).toBeGreaterThanOrEqual(stoppedAt);
    expect(agent.lines.find((l) => l.msg === 'draining')?.time).toBeLessThan(stoppedAt);
    await expect(get(`http://127.0.0.1:${appPort}/`)).rejects.toThrow();
  });
});
