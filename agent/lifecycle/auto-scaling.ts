// Auto Scaling lifecycle hooks, by instance id: find the instance's group, keep a slow first
// boot's launch hook alive with heartbeats, and complete a hook with CONTINUE or ABANDON. The
// client (@aws-sdk/client-auto-scaling) is loaded only when a hook is configured; it honours
// AWS_ENDPOINT_URL_AUTO_SCALING and the default credential chain like every SDK client.
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { Clock } from '../clock.ts';
import { describeError, LifecycleHookError } from '../errors.ts';
import type { Logger } from '../log.ts';

export type HookResult = 'CONTINUE' | 'ABANDON';

export interface AutoScalingHooksInput {
  instanceId: string;
  region: string;
  launchHook?: string | undefined;
  terminateHook?: string | undefined;
  log: Logger;
  /** How to build the client; the SDK's, loaded on first use, unless given. */
  makeClient?: (region: string) => Promise<AutoScalingClient>;
}

/** Heartbeats go out this often when the hook's own timeout cannot be read. */
const DEFAULT_HEARTBEAT_MS = 60_000;

/** Pure: heartbeats three times per HeartbeatTimeout, so one lost heartbeat does not end the wait; never more often than every 5 s. */
export function heartbeatIntervalMs(heartbeatTimeoutS: number | undefined): number {
  if (!heartbeatTimeoutS || heartbeatTimeoutS <= 0) return DEFAULT_HEARTBEAT_MS;
  return Math.max(5_000, Math.floor((heartbeatTimeoutS * 1000) / 3));
}

export class AutoScalingHooks {
  readonly launchHook: string | null;
  readonly terminateHook: string | null;
  private readonly input: AutoScalingHooksInput;
  private readonly log: Logger;
  private client: Promise<AutoScalingClient> | null = null;
  private group: Promise<string> | null = null;

  constructor(input: AutoScalingHooksInput) {
    this.input = input;
    this.launchHook = input.launchHook ?? null;
    this.terminateHook = input.terminateHook ?? null;
    this.log = input.log.child({ module: 'auto-scaling' });
  }

  /** Completes `hook` for this instance. An action that is no longer open (timed out, completed) is logged and taken as done. */
  async complete(hook: string, result: HookResult): Promise<void> {
    const { CompleteLifecycleActionCommand } = await import('./sdk-auto-scaling.ts');
    const group = await this.groupName();
    try {
      await (await this.sdk()).send(new CompleteLifecycleActionCommand({
        AutoScalingGroupName: group, LifecycleHookName: hook, InstanceId: this.input.instanceId, LifecycleActionResult: result,
      }));
    } catch (err) {
      if (noOpenAction(err)) {
        this.log.warn({ hook, group, result, err: describeError(err) }, 'lifecycle action no longer open; nothing to complete');
        return;
      }
      throw new LifecycleHookError(`cannot complete lifecycle hook ${hook} (${result}) of group ${group}`, { cause: err });
    }
    this.log.info({ hook, group, result }, 'lifecycle hook completed');
  }

  /** Keeps `hook` from timing out while the first boot is slow: heartbeats while `pending()` and `signal` has not aborted. Never throws. */
  async keepAlive(hook: string, input: { clock: Clock; signal: AbortSignal; pending: () => boolean }): Promise<void> {
    const { clock, signal } = input;
    const { DescribeLifecycleHooksCommand, RecordLifecycleActionHeartbeatCommand } = await import('./sdk-auto-scaling.ts');
    let interval = DEFAULT_HEARTBEAT_MS;
    try {
      const out = await (await this.sdk()).send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: await this.groupName(), LifecycleHookNames: [hook] }));
      interval = heartbeatIntervalMs(out.LifecycleHooks?.[0]?.HeartbeatTimeout);
    } catch (err) {
      this.log.warn({ hook, err: describeError(err) }, `cannot read the hook's heartbeat timeout; heartbeats every ${DEFAULT_HEARTBEAT_MS / 1000} s`);
    }
    for (;;) {
      await clock.sleep(interval, signal);
      if (signal.aborted || !input.pending()) return;
      try {
        const group = await this.groupName();
        await (await this.sdk()).send(new RecordLifecycleActionHeartbeatCommand({ AutoScalingGroupName: group, LifecycleHookName: hook, InstanceId: this.input.instanceId }));
        this.log.info({ hook, group, nextInMs: interval }, 'lifecycle hook heartbeat: the first boot is still going');
      } catch (err) {
        this.log.warn({ hook, err: describeError(err) }, 'lifecycle hook heartbeat failed; trying again at the next one');
      }
    }
  }

  /** The instance's Auto Scaling group, asked once (DescribeAutoScalingInstances by instance id). */
  private groupName(): Promise<string> {
    this.group ??= (async () => {
      const { DescribeAutoScalingInstancesCommand } = await import('./sdk-auto-scaling.ts');
      const out = await (await this.sdk()).send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [this.input.instanceId] }));
      const name = out.AutoScalingInstances?.[0]?.AutoScalingGroupName;
      if (!name) throw new LifecycleHookError(`instance ${this.input.instanceId} is in no Auto Scaling group; autoScaling hooks cannot be completed`);
      return name;
    })().catch((err: unknown) => {
      this.group = null;
      throw err instanceof LifecycleHookError ? err : new LifecycleHookError(`cannot find the Auto Scaling group of ${this.input.instanceId}`, { cause: err });
    });
    return this.group;
  }

  private sdk(): Promise<AutoScalingClient> {
    this.client ??= this.input.makeClient?.(this.input.region) ?? import('./sdk-auto-scaling.ts').then(
      ({ AutoScalingClient: Client }) => new Client({ region: this.input.region, maxAttempts: 3 }),
    );
    return this.client;
  }
}

/** Auto Scaling answers ValidationError "No active Lifecycle Action found ..." once the wait is over. */
function noOpenAction(err: unknown): boolean {
  return err instanceof Error && err.name === 'ValidationError' && /No active Lifecycle Action/i.test(err.message);
}
