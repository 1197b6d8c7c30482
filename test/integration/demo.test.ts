// `herd demo` is the newcomer's first command: it must work with nothing set up and leave nothing behind.
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { cleanEnv, runHerd } from '../helpers/harness.ts';

describe('herd demo', () => {
  it('publishes, rolls and serves the sample app, then cleans up', async () => {
    const before = new Set((await readdir(tmpdir())).filter((n) => n.startsWith('herd-demo-')));
    const { code, stdout, stderr } = await runHerd(['demo', '--exit-after', '1', '--json'], cleanEnv());
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.answer).toMatchObject({ release: 'hello-1', role: 'web', instance: 'i-demo-a', greeting: 'hello from the config bundle' });
    expect(out.healthz).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/healthz$/);
    const after = (await readdir(tmpdir())).filter((n) => n.startsWith('herd-demo-') && !before.has(n));
    expect(after).toEqual([]);
    // The agent and app are gone with it.
    await expect(fetch(out.healthz)).rejects.toThrow();
    await expect(fetch(out.app)).rejects.toThrow();
  });
});
