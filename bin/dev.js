#!/usr/bin/env node
// Runs the CLI straight from the TypeScript sources (no build step), for development.
// tsx is registered from here (not with `node --import tsx`, which resolves it from the
// current folder), so this works from any folder.
//
// The build writes oclif.manifest.json, whose command paths point into dist/. oclif loads a
// command from the manifest's path when there is one, so a plain `execute({development: true})`
// would run the last build, not the sources. The root plugin is therefore loaded here with
// the manifest ignored (its commands found in src/commands through tsconfig), and handed to
// oclif with the core plugins of package.json beside it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The repository's tsconfig, whatever folder this runs from: tsx reads the working folder's by
// default, and without the repository's JSX setting the views failed ("React is not defined").
process.env.TSX_TSCONFIG_PATH ??= path.join(root, 'tsconfig.json');
register({ tsconfig: process.env.TSX_TSCONFIG_PATH });
process.env.NODE_ENV = 'development';
const { execute, Plugin } = await import('@oclif/core');
const project = new Plugin({ root, isRoot: true, ignoreManifest: true });
await project.load();
const core = await Promise.all(
  (project.pjson.oclif.plugins ?? []).map(async (name) => {
    const plugin = new Plugin({ root, type: 'core', name });
    await plugin.load();
    return plugin;
  }),
);
const plugins = new Map([project, ...core].map((p) => [p.name, p]));
await execute({ development: true, loadOptions: { root, plugins } });
