// The Auto Scaling client and the commands the agent sends, as an ES module of their own:
// see store/sdk-s3-commands.ts.
export {
  AutoScalingClient, CompleteLifecycleActionCommand, DescribeAutoScalingInstancesCommand, DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
