/**
 * `bin/dev.js` runs the TypeScript sources even when a build has left oclif.manifest.json
 * (whose command paths point into dist/) beside them. A throwaway project holds the repo's
 * own `bin/dev.js`, a command in src/ and a stale build of it in dist/ with its manifest.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const commandSource = (said: string) => `import { Command } from '@oclif/core';
export default class Hello extends Command {
  static override description = 'says where it was loaded from';
  async run(): Promise<void> {
    this.log('${said}');
  }
}
`;

describe('bin/dev.js', () => {
  let project: string;

  beforeAll(async () => {
    project = await mkdtemp(path.join(tmpdir(), 'digits-dev-entry-'));
    await mkdir(path.join(project, 'bin'));
    await mkdir(path.join(project, 'src/commands'), { recursive: true });
    await mkdir(path.join(project, 'dist/commands'), { recursive: true });
    await copyFile(path.join(repo, 'bin/dev.js'), path.join(project, 'bin/dev.js'));
    await symlink(path.join(repo, 'node_modules'), path.join(project, 'node_modules'), 'dir');
    const pjson = {
      name: 'dev-entry-check',
      version: '1.0.0',
      type: 'module',
      dependencies: { '@oclif/core': '*', '@oclif/plugin-help': '*' },
      oclif: { bin: 'dev-entry-check', commands: './dist/commands', plugins: ['@oclif/plugin-help'], topicSeparator: ' ' },
    };
    await writeFile(path.join(project, 'package.json'), JSON.stringify(pjson, null, 2));
    await writeFile(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', outDir: 'dist', rootDir: 'src' }, include: ['src'] }),
    );
    await writeFile(path.join(project, 'src/commands/hello.ts'), commandSource('from the sources'));
    // The last build: the compiled command and the manifest that `oclif manifest` writes for it.
    await writeFile(
      path.join(project, 'dist/commands/hello.js'),
      commandSource('from a stale build').replace('static override', 'static').replace(': Promise<void>', ''),
    );
    const manifest = {
      version: '1.0.0',
      commands: {
        hello: {
          id: 'hello', description: 'says where it was loaded from', pluginName: 'dev-entry-check', pluginType: 'core', strict: true,
          aliases: [], args: {}, flags: {}, hidden: false, hiddenAliases: [], isESM: true, relativePath: ['dist', 'commands', 'hello.js'],
        },
      },
    };
    await writeFile(path.join(project, 'oclif.manifest.json'), JSON.stringify(manifest, null, 2));
  });

  afterAll(async () => {
    if (project) await rm(project, { recursive: true, force: true });
  });

  test('runs the command from src/, not the dist/ a manifest points at', async () => {
    // The stale build is what the manifest loads (the production entry's view of the project).
    const built = await run(process.execPath, ['--input-type=module', '-e', "import { execute } from '@oclif/core'; await execute({ dir: process.cwd() + '/package.json', args: ['hello'] });"], { cwd: project });
    expect(built.stdout.trim()).toBe('from a stale build');
    const { stdout } = await run(process.execPath, [path.join(project, 'bin/dev.js'), 'hello'], { cwd: tmpdir() });
    expect(stdout.trim()).toBe('from the sources');
  }, 60_000);

  test('keeps the core plugins of package.json: `help <command>` works', async () => {
    const { stdout } = await run(process.execPath, [path.join(project, 'bin/dev.js'), 'help', 'hello'], { cwd: project });
    expect(stdout).toContain('says where it was loaded from');
    expect(stdout).toContain('$ dev-entry-check hello');
  }, 60_000);
});
