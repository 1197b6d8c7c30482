// Which command lines run the agent through the entry point's short path (agent/cli.ts).
import { describe, expect, it } from 'vitest';
import { plainAgentFlags } from '../../agent/plain-agent.ts';

describe('plainAgentFlags', () => {
  it.each([
    [['agent'], {}],
    [['agent', '--config', '/etc/herd/agent.json'], { config: '/etc/herd/agent.json' }],
    [['agent', '--config=/etc/herd/agent.json'], { config: '/etc/herd/agent.json' }],
  ])('%j takes the short path', (args, flags) => {
    expect(plainAgentFlags(args)).toEqual(flags);
  });

  it.each([
    [[]], [['--version']], [['publish', '--role', 'web']], [['agent', '--help']], [['agent', '--config']],
    [['agent', '--config=']], [['agent', '--config', '--help']], [['agent', '--config', 'a.json', 'extra']], [['agent', '--bogus']],
  ])('%j goes to the full CLI', (args) => {
    expect(plainAgentFlags(args)).toBeNull();
  });
});
