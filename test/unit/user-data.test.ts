// herd user-data: the template filled in with the repository's own files, the executable's URL
// in each addressing style, what is refused; and publish-agent's check of what it uploads.
// test/integration/image.test.ts runs cloud-init's schema check and the install script itself.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IMAGE_FILE_PATHS, type ImageFiles } from '../../agent/commands/image-files.ts';
import { checkLinuxX64Executable } from '../../agent/commands/publish-agent.ts';
import {
  MAX_USER_DATA_BYTES, fillTemplate, objectUrl, renderUserData, userData, withoutComments,
} from '../../agent/commands/user-data.ts';
import { createOutput } from '../../agent/commands/output.ts';
import { buildConfig, type SourceConfig } from '../../agent/config.ts';
import { ConfigError, UsageError } from '../../agent/errors.ts';
import { silentLogger } from '../../agent/log.ts';
import type { ObjectStore } from '../../agent/store/object-store.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const FILES = Object.fromEntries(
  Object.entries(IMAGE_FILE_PATHS).map(([name, path]) => [name, readFileSync(join(ROOT, path), 'utf8')]),
) as unknown as ImageFiles;
const HEX = '0123456789abcdef'.repeat(4);
const SOURCE: SourceConfig = { bucket: 'acme-herd', prefix: 'herd', region: 'eu-west-1' };
const tmp = mkdtempSync(join(tmpdir(), 'herd-user-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The lines of the YAML literal block under `path: <path>`'s `content: |`, dedented. */
function contentOf(yaml: string, path: string): string {
  const lines = yaml.split('\n');
  const at = lines.findIndex((l) => l.trim() === `- path: ${path}`);
  const start = lines.findIndex((l, i) => i > at && l.trim() === 'content: |') + 1;
  const body: string[] = [];
  for (const line of lines.slice(start)) {
    if (line !== '' && !line.startsWith('      ')) break;
    body.push(line.slice(6));
  }
  return `${body.join('\n').replace(/\n+$/, '')}\n`;
}

describe('renderUserData', () => {
  const out = renderUserData({ files: FILES, source: SOURCE, digest: `sha256:${HEX}`, version: '0.1.0' });

  it('fills every placeholder of ami/user-data.yaml and stays under EC2\'s 16 KB', () => {
    expect(out.text.startsWith('#cloud-config\n')).toBe(true);
    expect(out.text).not.toMatch(/__[A-Z0-9_]+__/);
    expect(out.bytes).toBe(Buffer.byteLength(out.text));
    expect(out.bytes).toBeLessThan(MAX_USER_DATA_BYTES);
    expect(out.text).toContain(`# herd 0.1.0, sha256 ${HEX}, from s3://acme-herd/herd.`);
  });

  it('runs the install script with the executable\'s URL, the bucket\'s region and the pinned sha256', () => {
    expect(out.url).toBe(`https://acme-herd.s3.eu-west-1.amazonaws.com/herd/agent/sha256/${HEX}`);
    expect(out.text).toContain(
      `  - [python3, /usr/local/lib/herd/install-agent.py, --url, "${out.url}", --region, "eu-west-1", --sha256, "${HEX}", --app-user, "app"]`,
    );
  });

  it('writes the unit and the install script as the repository has them, less their comments', () => {
    const unit = contentOf(out.text, '/etc/systemd/system/herd-agent.service');
    expect(unit.split('\n')[0]).toMatch(/^# packaging\/herd-agent.service, comments removed/);
    expect(unit).toBe(withoutComments(FILES.unit, unit.split('\n')[0] as string));
    expect(unit).toContain('\nExecStart=/usr/local/bin/herd agent --config /etc/herd/agent.json\n');
    const script = contentOf(out.text, '/usr/local/lib/herd/install-agent.py');
    expect(script.split('\n').slice(0, 2)).toEqual(['#!/usr/bin/env python3', '# ami/install-agent.py, comments removed (EC2 user data holds 16 KB)']);
    expect(script).toBe(withoutComments(FILES.installScript, script.split('\n')[1] as string));
  });

  it('gives the agent the bucket as its only source, a config the agent accepts', () => {
    const config = JSON.parse(contentOf(out.text, '/etc/herd/agent.json'));
    expect(config).toEqual({ sources: [{ bucket: 'acme-herd', prefix: 'herd', region: 'eu-west-1' }] });
    expect(buildConfig(config, 'agent.json').appUser).toBe('app');
  });

  it('takes another agent config whole; appUser null creates no user', () => {
    const agentConfig = { sources: [{ bucket: 'other-bucket' }], appUser: null, healthPort: 9000 };
    const custom = renderUserData({ files: FILES, source: SOURCE, digest: `sha256:${HEX}`, version: null, agentConfig });
    expect(JSON.parse(contentOf(custom.text, '/etc/herd/agent.json'))).toEqual(agentConfig);
    expect(custom.text).toContain('--app-user, ""]');
    expect(custom.text).toContain('# herd (version unknown), sha256');
  });

  it('refuses an agent config the agent would refuse, and one that makes the user-data too big', () => {
    const render = (agentConfig: Record<string, unknown>) => renderUserData({ files: FILES, source: SOURCE, digest: `sha256:${HEX}`, version: null, agentConfig });
    expect(() => render({ sources: [] })).toThrow(ConfigError);
    expect(() => render({ sources: [{ bucket: 'b-1' }], pollIntervalS: 'often' })).toThrow('pollIntervalS');
    const huge = { sources: [{ bucket: 'b-1' }], trustedKeys: Array.from({ length: 120 }, () => 'YeQHBANmM88BD/SFdysYfXoGj+U0F5liqqXlweDERKU=') };
    expect(() => render(huge)).toThrow(/over EC2's 16384-byte limit/);
  });
});

describe('objectUrl', () => {
  const key = `herd/agent/sha256/${HEX}`;
  it.each([
    [{ bucket: 'acme-herd', prefix: 'herd', region: 'us-west-2' }, `https://acme-herd.s3.us-west-2.amazonaws.com/${key}`],
    [{ bucket: 'acme-herd', prefix: 'herd' }, `https://acme-herd.s3.us-east-1.amazonaws.com/${key}`],
    [{ bucket: 'acme.herd', prefix: 'herd', region: 'eu-west-1' }, `https://s3.eu-west-1.amazonaws.com/acme.herd/${key}`],
    [{ bucket: 'acme-herd', prefix: 'herd', region: 'cn-north-1' }, `https://acme-herd.s3.cn-north-1.amazonaws.com.cn/${key}`],
    [{ bucket: 'acme-herd', prefix: 'herd', endpoint: 'http://127.0.0.1:4569' }, `http://127.0.0.1:4569/acme-herd/${key}`],
    [{ bucket: 'acme-herd', prefix: 'herd', endpoint: 'https://minio.internal:9000/s3/', forcePathStyle: true }, `https://minio.internal:9000/s3/acme-herd/${key}`],
    [{ bucket: 'acme-herd', prefix: 'herd', endpoint: 'https://storage.example', forcePathStyle: false }, `https://acme-herd.storage.example/${key}`],
  ] as Array<[SourceConfig, string]>)('%j -> %s', (source, url) => {
    expect(objectUrl(source, key)).toBe(url);
  });
});

describe('the template helpers', () => {
  it('withoutComments keeps the #! line, puts the header after it, drops comment lines and blank runs', () => {
    expect(withoutComments('#!/bin/sh\n# a\nx=1\n\n\n  # b\ny=2  # kept\n\n', '# header')).toBe('#!/bin/sh\n# header\nx=1\n\ny=2  # kept\n');
  });

  it('fillTemplate indents a block as its placeholder is, and refuses a placeholder it has no value for', () => {
    expect(fillTemplate('a:\n  b: |\n    __X__\nc: __Y__\n', { X: 'one\n\ntwo\n' }, { Y: '"y"' })).toBe('a:\n  b: |\n    one\n\n    two\nc: "y"\n');
    expect(() => fillTemplate('c: __Z__\n', {}, {})).toThrow('no value for __Z__');
  });
});

describe('userData', () => {
  const out = createOutput({ json: true });
  const noStore = { source: SOURCE, getAgentPointer: () => { throw new Error('the store was read'); } } as unknown as ObjectStore;

  it('with --sha256 pins that executable without reading the store', async () => {
    const result = await userData({ store: noStore, files: FILES, sha256: HEX.toUpperCase(), out, log: silentLogger() });
    expect(result.sha256).toBe(HEX);
    expect(result.version).toBeNull();
  });

  it('without it pins what publish-agent published last', async () => {
    const store = {
      source: SOURCE,
      getAgentPointer: async () => ({
        schema: 'herd/agent@1', platform: 'linux-x64', digest: `sha256:${HEX}`, size: 10, version: '0.1.0',
        publishedAt: '2026-12-01T12:00:00.000Z', publishedBy: 'ci@build',
      }),
    } as unknown as ObjectStore;
    const result = await userData({ store, files: FILES, out, log: silentLogger() });
    expect(result.text).toContain(`# herd 0.1.0, sha256 ${HEX}`);
  });

  it('refuses a --sha256 that is not 64 hex digits, and an --agent-config that is not valid', async () => {
    await expect(userData({ store: noStore, files: FILES, sha256: 'abc', out, log: silentLogger() }))
      .rejects.toThrow(new UsageError('--sha256 "abc" is not a sha256: 64 hex digits, as herd publish-agent prints'));
    const dir = tmp;
    writeFileSync(join(dir, 'agent.json'), '{"sources": [{"bucket": "b-1"}], "colour": "blue"}');
    await expect(userData({ store: noStore, files: FILES, sha256: HEX, agentConfigFile: join(dir, 'agent.json'), out, log: silentLogger() }))
      .rejects.toThrow(/Unrecognized key: "colour"/);
  });
});

describe('publish-agent takes only a Linux x86-64 executable', () => {
  it('accepts an x86-64 ELF and refuses the JavaScript bundle', async () => {
    await expect(checkLinuxX64Executable(process.execPath)).resolves.toBeUndefined();
    const dir = tmp;
    writeFileSync(join(dir, 'herd.mjs'), '#!/usr/bin/env node\nconsole.log(1)\n');
    await expect(checkLinuxX64Executable(join(dir, 'herd.mjs'))).rejects.toThrow('not a Linux x86-64 executable; publish the single executable dist/herd');
    await expect(checkLinuxX64Executable(join(dir, 'absent'))).rejects.toThrow(ConfigError);
  });
});
