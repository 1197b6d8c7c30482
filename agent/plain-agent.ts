// Which command lines take the entry point's short path to the agent (cli.ts): `herd agent`
// with at most its config file. Anything else, `agent --help` or a typo included, goes to
// the full CLI, which knows every flag and says what is wrong.

/** `agent`, `agent --config FILE` or `agent --config=FILE` as { config? }; null for anything else. */
export function plainAgentFlags(args: string[]): { config?: string } | null {
  if (args[0] !== 'agent') return null;
  const rest = args.slice(1);
  if (rest.length === 0) return {};
  if (rest.length === 1 && rest[0]?.startsWith('--config=') && rest[0].length > '--config='.length) return { config: rest[0].slice('--config='.length) };
  if (rest.length === 2 && rest[0] === '--config' && rest[1] !== undefined && !rest[1].startsWith('-')) return { config: rest[1] };
  return null;
}
