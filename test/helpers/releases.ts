// Release directories for tests: the sample app with a changed file (a code change), another
// config (a config-only change), or a herd.json that cannot pass its health gate.
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HELLO_APP } from './harness.ts';

/** The sample app with `marker` written into it, so its code digest differs per marker. */
export async function codeVariant(root: string, marker: string, edit?: (spec: Record<string, unknown>) => Record<string, unknown>): Promise<string> {
  const dir = join(root, `code-${marker}`);
  await cp(HELLO_APP, dir, { recursive: true });
  await writeFile(join(dir, 'VERSION'), `${marker}\n`);
  if (edit) {
    const spec = JSON.parse(await readFile(join(dir, 'herd.json'), 'utf8'));
    await writeFile(join(dir, 'herd.json'), JSON.stringify(edit(spec)));
  }
  return dir;
}

export async function configVariant(root: string, greeting: string): Promise<string> {
  const dir = join(root, `config-${greeting.replace(/\W+/g, '-')}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'app.json'), JSON.stringify({ greeting }));
  return dir;
}

/** An app that starts, passes its health gate, then dies after `afterMs`: a crash loop. */
export async function crashingApp(root: string, afterMs: number): Promise<string> {
  const dir = await codeVariant(root, `crash-${afterMs}`);
  const server = await readFile(join(dir, 'server.mjs'), 'utf8');
  await writeFile(join(dir, 'server.mjs'), `${server}\nsetTimeout(() => { console.error('crashing on purpose'); process.exit(3); }, ${afterMs});\n`);
  return dir;
}
